// The pipelined broadcast under real MPI (run with mpirun -np N): every rank
// gets every byte for chains and trees, streams of 0, 1 and many chunks, any
// root; an aborting source reaches every rank; a failing sink on one rank
// does not stop the others. Prints "ok" on rank 0 and exits 0 when all pass.
#include <distenv/hash/hash.hpp>
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/transport/comm_mpi.hpp>
#include <distenv/util/error.hpp>

#include <mpi.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace distenv;

namespace {

int g_failures = 0;

void expect(bool ok, const std::string& what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAILED: %s\n", rank, what.c_str());
    ++g_failures;
  }
}

// Deterministic pseudo-random chunks; throws after `fail_after` chunks.
struct Generated : pack::ChunkSource {
  size_t chunk, chunks, last;
  size_t fail_after;
  size_t n = 0;
  std::vector<std::byte> buffer;
  Generated(size_t chunk_, size_t chunks_, size_t last_, size_t fail_after_ = SIZE_MAX)
      : chunk(chunk_), chunks(chunks_), last(last_), fail_after(fail_after_), buffer(chunk_) {}
  pack::Bytes next() override {
    if (n == fail_after)
      throw Error("source failed");
    if (n == chunks)
      return {};
    size_t size = n + 1 == chunks ? last : chunk;
    std::mt19937 rng(static_cast<unsigned>(n));
    for (size_t i = 0; i < size; ++i)
      buffer[i] = static_cast<std::byte>(rng());
    ++n;
    return pack::Bytes(buffer.data(), size);
  }
};

struct Hashing : pack::ChunkSink {
  hash::Hasher h;
  uint64_t bytes = 0;
  bool closed = false;
  int fail_at = -1;
  int seen = 0;
  void put(pack::Bytes c) override {
    if (seen++ == fail_at)
      throw Error("disk full");
    h.update(c.data(), c.size());
    bytes += c.size();
  }
  void close() override { closed = true; }
};

} // namespace

// One broadcast by `method` (every tree schedule, or the MPI collective).
transport::BroadcastResult broadcast(transport::Comm& world, const transport::Method& method, int root,
                                     size_t chunk, pack::ChunkSource* source, pack::ChunkSink* sink) {
  if (method.kind == transport::Method::mpi)
    return transport::broadcast_chunks_collective(world, root, chunk, 2, source, sink);
  return transport::broadcast_chunks(world, transport::schedule(method, world.rank(), world.size(), root),
                                     chunk, 2, source, sink);
}

const std::vector<transport::Method> k_methods = {
    transport::Method::chain(), transport::Method::binary_tree(),
    transport::Method{transport::Method::tree, 3}, transport::Method::twotree(),
    transport::Method::mpi_bcast()};

int run(transport::Comm& world) {
  const int rank = world.rank(), size = world.size();
  const size_t chunk = 4096;

  for (int root : {0, size - 1})
    for (const transport::Method& method : k_methods)
      for (size_t chunks : {size_t(0), size_t(1), size_t(37)}) {
        const std::string what = "root " + std::to_string(root) + " " + transport::method_name(method) +
                                 " chunks " + std::to_string(chunks);
        Generated expected(chunk, chunks, 1000);
        hash::Hasher reference;
        uint64_t expected_bytes = 0;
        for (pack::Bytes b; !(b = expected.next()).empty(); expected_bytes += b.size())
          reference.update(b.data(), b.size());
        Hashing sink;
        Generated source(chunk, chunks, 1000);
        auto r = broadcast(world, method, root, chunk, rank == root ? &source : nullptr, &sink);
        expect(r.complete, what + ": complete", rank);
        expect(sink.closed, what + ": sink closed", rank);
        expect(sink.bytes == expected_bytes, what + ": bytes", rank);
        expect(sink.h.digest() == reference.digest(), what + ": content", rank);
      }

  // The root's source fails after 5 chunks: everyone learns, nobody hangs.
  for (const transport::Method& method : k_methods) {
    Generated source(chunk, 20, chunk, 5);
    Hashing sink;
    bool threw = false;
    try {
      auto r = broadcast(world, method, 0, chunk, rank == 0 ? &source : nullptr, &sink);
      expect(!r.complete, transport::method_name(method) + ": abort reaches rank", rank);
      expect(r.chunks <= 5, transport::method_name(method) + ": chunks before the abort", rank);
    } catch (const Error&) {
      threw = true;
    }
    expect(threw == (rank == 0), transport::method_name(method) + ": the root rethrows its source's error",
           rank);
  }

  // Rank 1's sink fails at its 3rd chunk: the stream still reaches the rest.
  for (const transport::Method& method : k_methods) {
    Generated source(chunk, 10, chunk);
    Hashing sink;
    sink.fail_at = rank == 1 ? 2 : -1;
    auto r = broadcast(world, method, 0, chunk, rank == 0 ? &source : nullptr, &sink);
    expect(r.complete && r.bytes == 10 * chunk, "stream passes a failing sink", rank);
    expect(rank == 1 ? sink.bytes == 2 * chunk : sink.bytes == 10 * chunk, "sink bytes", rank);
    expect((r.sink_error != nullptr) == (rank == 1), "the sink's error is in the result", rank);
  }

  const int failures = world.all_max(g_failures);
  if (rank == 0)
    std::printf(failures ? "failures on some rank\n" : "ok\n");
  return failures ? 1 : 0;
}

int main(int argc, char** argv) {
  transport::MpiSession session(argc, argv);
  return run(*transport::MpiComm::world());
}
