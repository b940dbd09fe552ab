// Pipelined chain/tree broadcast of chunks over the Comm's point to point.
#include <distenv/transport/chunk_broadcast.hpp>

#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace distenv::transport {

namespace {

struct Slot {
  std::vector<std::byte> buffer;
  std::vector<std::unique_ptr<Request>> sends;
};

class Pipeline {
public:
  Pipeline(Comm& comm, const Links& links, size_t chunk_size, int depth)
      : m_comm(comm), m_links(links), m_slots(static_cast<size_t>(depth < 1 ? 1 : depth)) {
    for (Slot& s : m_slots)
      s.buffer.resize(chunk_size);
  }
  ~Pipeline() {
    // Left by an exception with sends in flight: the transport may still read
    // those buffers, so they are given up rather than freed (the job ends).
    for (Slot& s : m_slots)
      if (!s.sends.empty())
        new std::vector<std::byte>(std::move(s.buffer));
  }

  // The next free buffer (its previous sends completed).
  Slot& next_slot() {
    Slot& s = m_slots[m_next++ % m_slots.size()];
    wait(s);
    return s;
  }

  void forward(Slot& s, size_t size) {
    for (int child : m_links.children)
      s.sends.push_back(m_comm.isend(child, k_tag_data, Bytes(s.buffer.data(), size)));
  }

  // Every pending send done, then `tag` (end / abort) to every child.
  void finish(int tag) {
    for (Slot& s : m_slots)
      wait(s);
    for (int child : m_links.children)
      m_comm.send(child, tag, {});
  }

private:
  static void wait(Slot& s) {
    for (auto& r : s.sends)
      r->wait();
    s.sends.clear();
  }

  Comm& m_comm;
  Links m_links;
  std::vector<Slot> m_slots;
  size_t m_next = 0;
};

void feed(pack::ChunkSink*& sink, pack::Bytes chunk, BroadcastResult& result) {
  if (!sink)
    return;
  try {
    sink->put(chunk);
  } catch (...) {
    result.sink_error = std::current_exception();
    sink = nullptr; // keep forwarding for the others
  }
}

void close(pack::ChunkSink* sink, BroadcastResult& result) {
  if (!sink)
    return;
  try {
    sink->close();
  } catch (...) {
    result.sink_error = std::current_exception();
  }
}

pack::Bytes next_chunk(pack::ChunkSource& source, size_t chunk_size) {
  pack::Bytes chunk = source.next();
  if (chunk.size() > chunk_size)
    throw std::logic_error(fmt::format("broadcast: a chunk of {} bytes is larger than the chunk size {}",
                                       chunk.size(), chunk_size));
  return chunk;
}

} // namespace

BroadcastResult broadcast_chunks(Comm& comm, const Links& links, size_t chunk_size, int depth,
                                 pack::ChunkSource* source, pack::ChunkSink* sink) {
  Pipeline pipeline(comm, links, chunk_size, depth);
  BroadcastResult result;
  if (links.parent < 0) { // the root
    for (;;) {
      pack::Bytes chunk;
      try {
        chunk = next_chunk(*source, chunk_size);
      } catch (const CommError&) {
        throw;
      } catch (...) {
        std::exception_ptr failure = std::current_exception();
        pipeline.finish(k_tag_abort);
        std::rethrow_exception(failure);
      }
      if (chunk.empty())
        break;
      Slot& slot = pipeline.next_slot();
      std::memcpy(slot.buffer.data(), chunk.data(), chunk.size());
      pipeline.forward(slot, chunk.size());
      feed(sink, pack::Bytes(slot.buffer.data(), chunk.size()), result);
      result.bytes += chunk.size();
      ++result.chunks;
    }
    pipeline.finish(k_tag_end);
    close(sink, result);
    return result;
  }
  for (;;) {
    Slot& slot = pipeline.next_slot();
    const Received got = comm.recv(links.parent, Comm::k_any, slot.buffer);
    if (got.tag == k_tag_end || got.tag == k_tag_abort) {
      result.complete = got.tag == k_tag_end;
      pipeline.finish(got.tag);
      break;
    }
    if (got.tag != k_tag_data)
      throw CommError(fmt::format("broadcast: unexpected message tag {} from rank {}", got.tag, links.parent));
    pipeline.forward(slot, got.size);
    feed(sink, pack::Bytes(slot.buffer.data(), got.size), result);
    result.bytes += got.size;
    ++result.chunks;
  }
  if (result.complete)
    close(sink, result);
  return result;
}

} // namespace distenv::transport
