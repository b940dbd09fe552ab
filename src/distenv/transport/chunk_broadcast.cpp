// Pipelined chain/tree broadcast of chunks with MPI_Isend/MPI_Recv.
#include <distenv/transport/chunk_broadcast.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

#include <cstring>
#include <exception>
#include <vector>

namespace distenv::transport {

namespace {

constexpr int k_tag_data = 0x6401;
constexpr int k_tag_end = 0x6402;
constexpr int k_tag_abort = 0x6403;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS)
    throw Error(fmt::format("broadcast: {} failed (MPI error {})", what, rc));
}

struct Slot {
  std::vector<std::byte> buffer;
  std::vector<MPI_Request> sends;
};

class Pipeline {
public:
  Pipeline(MPI_Comm comm, const Links& links, size_t chunk_size, int depth)
      : m_comm(comm), m_links(links), m_slots(static_cast<size_t>(depth < 1 ? 1 : depth)) {
    for (Slot& s : m_slots)
      s.buffer.resize(chunk_size);
  }

  // The next free buffer (its previous sends completed).
  Slot& next_slot() {
    Slot& s = m_slots[m_next++ % m_slots.size()];
    wait(s);
    return s;
  }

  void forward(Slot& s, size_t size) {
    for (int child : m_links.children) {
      s.sends.emplace_back();
      check(MPI_Isend(s.buffer.data(), static_cast<int>(size), MPI_BYTE, child, k_tag_data, m_comm,
                      &s.sends.back()),
            "MPI_Isend");
    }
  }

  // Every pending send done, then `tag` (end / abort) to every child.
  void finish(int tag) {
    for (Slot& s : m_slots)
      wait(s);
    for (int child : m_links.children)
      check(MPI_Send(nullptr, 0, MPI_BYTE, child, tag, m_comm), "MPI_Send");
  }

private:
  void wait(Slot& s) {
    if (!s.sends.empty())
      check(MPI_Waitall(static_cast<int>(s.sends.size()), s.sends.data(), MPI_STATUSES_IGNORE),
            "MPI_Waitall");
    s.sends.clear();
  }

  MPI_Comm m_comm;
  Links m_links;
  std::vector<Slot> m_slots;
  size_t m_next = 0;
};

void feed(pack::ChunkSink*& sink, pack::Bytes chunk) {
  if (!sink)
    return;
  try {
    sink->put(chunk);
  } catch (...) {
    sink = nullptr; // its owner has the error; keep forwarding for the others
  }
}

} // namespace

BroadcastResult broadcast_chunks(MPI_Comm comm, const Links& links, size_t chunk_size, int depth,
                                 pack::ChunkSource* source, pack::ChunkSink* sink) {
  Pipeline pipeline(comm, links, chunk_size, depth);
  BroadcastResult result;
  if (links.parent < 0) { // the root
    for (;;) {
      pack::Bytes chunk;
      try {
        chunk = source->next();
      } catch (...) {
        std::exception_ptr failure = std::current_exception();
        pipeline.finish(k_tag_abort);
        std::rethrow_exception(failure);
      }
      if (chunk.empty())
        break;
      if (chunk.size() > chunk_size)
        throw Error("broadcast: chunk larger than the chunk size");
      Slot& slot = pipeline.next_slot();
      std::memcpy(slot.buffer.data(), chunk.data(), chunk.size());
      pipeline.forward(slot, chunk.size());
      feed(sink, pack::Bytes(slot.buffer.data(), chunk.size()));
      result.bytes += chunk.size();
      ++result.chunks;
    }
    pipeline.finish(k_tag_end);
    if (sink)
      sink->close();
    return result;
  }
  for (;;) {
    Slot& slot = pipeline.next_slot();
    MPI_Status status;
    check(MPI_Recv(slot.buffer.data(), static_cast<int>(chunk_size), MPI_BYTE, links.parent,
                   MPI_ANY_TAG, comm, &status),
          "MPI_Recv");
    if (status.MPI_TAG == k_tag_end || status.MPI_TAG == k_tag_abort) {
      result.complete = status.MPI_TAG == k_tag_end;
      pipeline.finish(status.MPI_TAG);
      break;
    }
    int count = 0;
    check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    pipeline.forward(slot, static_cast<size_t>(count));
    feed(sink, pack::Bytes(slot.buffer.data(), static_cast<size_t>(count)));
    result.bytes += static_cast<uint64_t>(count);
    ++result.chunks;
  }
  if (sink && result.complete)
    sink->close(); // on abort the owner learns it from the result
  return result;
}

} // namespace distenv::transport
