// Pipelined broadcast of chunks over one tree or two (point to point).
#include <distenv/transport/chunk_broadcast.hpp>

#include <distenv/transport/chunk_buffer.hpp>
#include <distenv/transport/stream_ends.hpp>

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
  size_t ring = 0;                  // next slot to fill
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

BroadcastResult send_from_root(Comm& comm, std::deque<Tree>& trees, size_t chunk_size,
                               pack::ChunkSource& source, pack::ChunkSink* sink) {
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
  close_sink(sink, result);
  return result;
}

// One tree's part of a receiving round: post the next receive when a slot
// is free, take in what has arrived (forwarding it at once). Whether
// anything moved.
bool receive_step(Comm& comm, Tree& t, bool& aborted) {
  bool moved = false;
  if (!t.ended && !t.pending) {
    Slot& s = t.peek_slot();
    if (!s.held && s.sends_done()) {
      t.posted = &t.next_slot();
      t.pending = comm.irecv(t.links.parent, Comm::k_any, MutableBytes(s.buffer.data(), s.buffer.size()));
      moved = true;
    }
  }
  if (!t.pending || !t.pending->test())
    return moved;
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
    throw CommError(fmt::format("broadcast: unexpected message tag {} from rank {}", tag, t.links.parent));
  }
  return true;
}

// Nothing moved: wait for a receive or a send. Sends that have completed
// since their slot was last looked at are let go first (and the round
// repeated): waiting on a completed request returns at once, and the loop
// would spin (a core busy, and simulated time spent) until the next chunk
// came.
void wait_for_progress(Comm& comm, std::deque<Tree>& trees) {
  bool collected = false;
  for (Tree& t : trees)
    for (Slot& s : t.slots)
      collected = std::erase_if(s.sends, [](const std::unique_ptr<Request>& r) { return r->test(); }) > 0 ||
                  collected;
  if (collected)
    return;
  std::vector<Request*> waiting;
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

// Receives from every tree's parent at once, forwards each chunk as it
// arrives, and hands chunks to the sink in stream order (chunk k from tree
// k % trees). A tree whose buffers all wait for the sink stops receiving
// until the other tree catches up: memory stays depth x chunk per tree.
BroadcastResult receive(Comm& comm, std::deque<Tree>& trees, pack::ChunkSink* sink) {
  BroadcastResult result;
  bool aborted = false;
  for (;;) {
    bool moved = false;
    for (Tree& t : trees)
      moved = receive_step(comm, t, aborted) || moved;
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
    wait_for_progress(comm, trees);
  }
  for (Tree& t : trees)
    t.drain();
  for (const Tree& t : trees)
    if (!aborted && !t.ready.empty())
      throw CommError("broadcast: a tree ended with chunks out of order");
  result.complete = !aborted;
  if (result.complete)
    close_sink(sink, result);
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
} // namespace distenv::transport
