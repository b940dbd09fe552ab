// Pipelined broadcast of chunks: over one tree or two (point to point), or
// through the communication library's own broadcast.
#include <distenv/transport/chunk_broadcast.hpp>

#include <distenv/transport/chunk_buffer.hpp>

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <vector>

namespace distenv::transport {

namespace {

struct Slot {
  explicit Slot(size_t size) : buffer(size) {}
  ChunkBuffer buffer;
  std::vector<std::unique_ptr<Request>> sends;
  bool held = false; // received, not yet handed to the sink

  bool sends_done() {
    for (auto& r : sends)
      if (!r->test())
        return false;
    sends.clear();
    return true;
  }
  void wait_sends() {
    for (auto& r : sends)
      r->wait();
    sends.clear();
  }
};

// One tree of the schedule as this rank sees it: the chunks that travel it
// (k, k + trees, ...), `depth` buffers, and what has arrived.
struct Tree {
  Tree(const Links& l, size_t chunk_size, int depth) : links(l) {
    for (int i = 0; i < (depth < 1 ? 1 : depth); ++i)
      slots.emplace_back(chunk_size);
  }
  ~Tree() {
    // Left by an exception with sends in flight: the transport may still read
    // those buffers, so they are given up rather than freed (the job ends).
    for (Slot& s : slots)
      if (!s.sends.empty())
        s.buffer.leak();
    for (auto& r : closing)
      r.release(); // a zero-byte send: nothing to keep alive, and it must not be waited for here
  }

  Links links;
  std::deque<Slot> slots;
  size_t ring = 0; // next slot to fill
  std::unique_ptr<Request> pending; // the receive posted into `posted`
  Slot* posted = nullptr;
  struct Arrived {
    Slot* slot;
    size_t size;
  };
  std::deque<Arrived> ready; // in this tree's order
  bool ended = false;

  Slot& next_slot() { return slots[ring++ % slots.size()]; }
  Slot& peek_slot() { return slots[ring % slots.size()]; }

  void forward(Comm& comm, Slot& s, size_t size) {
    for (int child : links.children)
      s.sends.push_back(comm.isend(child, k_tag_data, Bytes(s.buffer.data(), size)));
  }
  // `tag` (end / abort) to every child, after the chunks sent before it:
  // messages from one rank to another are matched in the order sent, so it
  // need not wait for them (a rank that waited here could wait for a child
  // whose buffers wait for the other tree's chunks, which may come through
  // a rank waiting for us).
  void finish(Comm& comm, int tag) {
    for (int child : links.children)
      closing.push_back(comm.isend(child, tag, {}));
    ended = true;
  }
  // Every send done: the buffers may go.
  void drain() {
    for (Slot& s : slots)
      s.wait_sends();
    for (auto& r : closing)
      r->wait();
    closing.clear();
  }
  std::vector<std::unique_ptr<Request>> closing;
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

BroadcastResult send_from_root(Comm& comm, std::deque<Tree>& trees, size_t chunk_size, pack::ChunkSource& source,
                               pack::ChunkSink* sink) {
  BroadcastResult result;
  for (;;) {
    pack::Bytes chunk;
    try {
      chunk = next_chunk(source, chunk_size);
    } catch (const CommError&) {
      throw;
    } catch (...) {
      std::exception_ptr failure = std::current_exception();
      for (Tree& t : trees)
        t.finish(comm, k_tag_abort);
      for (Tree& t : trees)
        t.drain();
      std::rethrow_exception(failure);
    }
    if (chunk.empty())
      break;
    Tree& t = trees[result.chunks % trees.size()];
    Slot& slot = t.next_slot();
    slot.wait_sends();
    std::memcpy(slot.buffer.data(), chunk.data(), chunk.size());
    t.forward(comm, slot, chunk.size());
    feed(sink, pack::Bytes(slot.buffer.data(), chunk.size()), result);
    result.bytes += chunk.size();
    ++result.chunks;
  }
  for (Tree& t : trees)
    t.finish(comm, k_tag_end);
  for (Tree& t : trees)
    t.drain();
  close(sink, result);
  return result;
}

// Receives from every tree's parent at once, forwards each chunk as it
// arrives, and hands chunks to the sink in stream order (chunk k from tree
// k % trees). A tree whose buffers all wait for the sink stops receiving
// until the other tree catches up: memory stays depth x chunk per tree.
BroadcastResult receive(Comm& comm, std::deque<Tree>& trees, pack::ChunkSink* sink) {
  BroadcastResult result;
  bool aborted = false;
  for (;;) {
    bool moved = false;
    for (Tree& t : trees) {
      if (!t.ended && !t.pending) {
        Slot& s = t.peek_slot();
        if (!s.held && s.sends_done()) {
          t.posted = &t.next_slot();
          t.pending = comm.irecv(t.links.parent, Comm::k_any, MutableBytes(s.buffer.data(), s.buffer.size()));
          moved = true;
        }
      }
      if (t.pending && t.pending->test()) {
        moved = true;
        const int tag = t.pending->tag();
        const size_t size = t.pending->size();
        Slot& s = *t.posted;
        t.pending.reset();
        t.posted = nullptr;
        if (tag == k_tag_data) {
          t.forward(comm, s, size);
          s.held = true;
          t.ready.push_back({&s, size});
        } else if (tag == k_tag_end || tag == k_tag_abort) {
          aborted = aborted || tag == k_tag_abort;
          t.finish(comm, tag);
        } else {
          throw CommError(
              fmt::format("broadcast: unexpected message tag {} from rank {}", tag, t.links.parent));
        }
      }
    }
    for (;;) { // hand over, in stream order, what has arrived
      Tree& t = trees[result.chunks % trees.size()];
      if (t.ready.empty())
        break;
      const Tree::Arrived a = t.ready.front();
      t.ready.pop_front();
      if (!aborted)
        feed(sink, pack::Bytes(a.slot->buffer.data(), a.size), result);
      a.slot->held = false;
      result.bytes += a.size;
      ++result.chunks;
      moved = true;
    }
    bool all_ended = true;
    for (const Tree& t : trees)
      all_ended = all_ended && t.ended;
    if (all_ended)
      break;
    if (moved)
      continue;
    // Sends that have completed since their slot was last looked at are let
    // go first: waiting on a completed request returns at once, and the
    // loop would spin (a core busy, and simulated time spent) until the
    // next chunk came.
    bool collected = false;
    for (Tree& t : trees)
      for (Slot& s : t.slots)
        collected = std::erase_if(s.sends, [](const std::unique_ptr<Request>& r) { return r->test(); }) > 0 ||
                    collected;
    if (collected)
      continue;
    std::vector<Request*> waiting; // nothing moved: wait for a receive or a send
    for (Tree& t : trees) {
      if (t.pending)
        waiting.push_back(t.pending.get());
      for (Slot& s : t.slots)
        for (auto& r : s.sends)
          waiting.push_back(r.get());
    }
    if (waiting.empty())
      throw CommError("broadcast: stalled (every buffer waits for a chunk that cannot come)");
    comm.wait_any(waiting);
  }
  for (Tree& t : trees)
    t.drain();
  for (const Tree& t : trees)
    if (!aborted && !t.ready.empty())
      throw CommError("broadcast: a tree ended with chunks out of order");
  result.complete = !aborted;
  if (result.complete)
    close(sink, result);
  return result;
}

} // namespace

BroadcastResult broadcast_chunks(Comm& comm, const std::vector<Links>& schedule, size_t chunk_size, int depth,
                                 pack::ChunkSource* source, pack::ChunkSink* sink) {
  if (schedule.empty())
    throw std::logic_error("broadcast: an empty schedule");
  std::deque<Tree> trees;
  for (const Links& l : schedule)
    trees.emplace_back(l, chunk_size, depth);
  if (schedule.front().parent < 0)
    return send_from_root(comm, trees, chunk_size, *source, sink);
  return receive(comm, trees, sink);
}

BroadcastResult broadcast_chunks(Comm& comm, const Links& links, size_t chunk_size, int depth,
                                 pack::ChunkSource* source, pack::ChunkSink* sink) {
  return broadcast_chunks(comm, std::vector<Links>{links}, chunk_size, depth, source, sink);
}

// Each chunk is one ibroadcast of a fixed-size message: an 8-byte header
// (the chunk's length, or a marker) and the bytes. Every rank starts the same
// ibroadcasts in the same order: the receivers keep `depth` started ahead, so
// after the end (or abort) marker the root starts depth - 1 more, empty, to
// match the ones they started before they saw it.
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
      close(sink, result);
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
        throw CommError(fmt::format("broadcast: a chunk of {} bytes is larger than the chunk size {}", head,
                                    chunk_size));
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
    close(sink, result);
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
