// The chunk stream through the communication library's own broadcast, and
// the choice between it and the pipelined trees.
#include <distenv/transport/chunk_broadcast.hpp>

#include <distenv/transport/chunk_buffer.hpp>
#include <distenv/transport/stream_ends.hpp>

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <memory>
#include <vector>

namespace distenv::transport {

BroadcastResult broadcast_chunks_collective(Comm& comm, int root, size_t chunk_size, int depth,
                                            pack::ChunkSource* source, pack::ChunkSink* sink) {
  constexpr uint64_t k_end = ~uint64_t(0), k_abort = ~uint64_t(0) - 1;
  constexpr size_t k_head = 8;
  const size_t window = static_cast<size_t>(depth < 1 ? 1 : depth);
  // Each slot of the window has a communicator of its own, so that no two
  // broadcasts in flight share one (some libraries, SimGrid's SMPI among
  // them, mismatch concurrent nonblocking collectives on one communicator).
  struct Entry {
    explicit Entry(size_t size) : buffer(size) {}
    ChunkBuffer buffer;
    std::unique_ptr<Comm> lane;
    std::unique_ptr<Request> request;
  };
  std::deque<Entry> entries;
  for (size_t i = 0; i < window; ++i) {
    entries.emplace_back(k_head + chunk_size);
    entries.back().lane = comm.split(0);
  }
  auto header = [](Entry& e) {
    uint64_t v;
    std::memcpy(&v, e.buffer.data(), k_head);
    return v;
  };
  auto set_header = [](Entry& e, uint64_t v) { std::memcpy(e.buffer.data(), &v, k_head); };
  auto start = [&](Entry& e) {
    e.request = e.lane->ibroadcast(MutableBytes(e.buffer.data(), e.buffer.size()), root);
  };
  auto leak_unfinished = [&] {
    for (Entry& e : entries)
      if (e.request && !e.request->test())
        e.buffer.leak();
  };
  BroadcastResult result;
  size_t n = 0; // ibroadcasts started
  try {
    if (comm.rank() == root) {
      auto send = [&](uint64_t head, pack::Bytes chunk) {
        Entry& e = entries[n++ % window];
        if (e.request)
          e.request->wait();
        set_header(e, head);
        if (!chunk.empty())
          std::memcpy(e.buffer.data() + k_head, chunk.data(), chunk.size());
        start(e);
      };
      std::exception_ptr failure;
      for (;;) {
        pack::Bytes chunk;
        try {
          chunk = next_chunk(*source, chunk_size);
        } catch (const CommError&) {
          throw;
        } catch (...) {
          failure = std::current_exception();
          break;
        }
        if (chunk.empty())
          break;
        send(chunk.size(), chunk);
        feed(sink, chunk, result);
        result.bytes += chunk.size();
        ++result.chunks;
      }
      for (size_t i = 0; i < window; ++i) // the marker, then what the receivers started ahead
        send(failure ? k_abort : k_end, {});
      for (Entry& e : entries)
        if (e.request)
          e.request->wait();
      if (failure)
        std::rethrow_exception(failure);
      close_sink(sink, result);
      return result;
    }
    for (size_t i = 0; i < window; ++i)
      start(entries[n++ % window]);
    for (size_t next = 0;; ++next) {
      Entry& e = entries[next % window];
      e.request->wait();
      const uint64_t head = header(e);
      if (head == k_end || head == k_abort) {
        for (size_t i = 1; i < window; ++i) // the ones started ahead: the root's padding
          entries[(next + i) % window].request->wait();
        result.complete = head == k_end;
        break;
      }
      if (head > chunk_size)
        throw CommError(
            fmt::format("broadcast: a chunk of {} bytes is larger than the chunk size {}", head, chunk_size));
      feed(sink, pack::Bytes(e.buffer.data() + k_head, head), result);
      result.bytes += head;
      ++result.chunks;
      start(e);
      ++n;
    }
  } catch (...) {
    leak_unfinished();
    throw;
  }
  if (result.complete)
    close_sink(sink, result);
  return result;
}

BroadcastResult broadcast_stream(Comm& comm, const BroadcastPlan& plan, pack::ChunkSource* source,
                                 pack::ChunkSink* sink) {
  const size_t chunk = static_cast<size_t>(plan.chunk);
  if (plan.method.kind == Method::mpi)
    return broadcast_chunks_collective(comm, 0, chunk, plan.depth, source, sink);
  return broadcast_chunks(comm, schedule(plan.method, comm.rank(), comm.size(), 0), chunk, plan.depth, source,
                          sink);
}

} // namespace distenv::transport
