// The broadcast under SimGrid's SMPI: the project's own transport sources
// (comm, comm_mpi, schedule, chunk_broadcast) built with smpicxx and run on a
// simulated cluster by scripts/smpi. Rank 0 streams SIZE bytes in chunks to
// every other rank by METHOD; the payload is one shared buffer (no real
// bytes move: correctness is tested for real elsewhere). Rank 0 prints one
// CSV row: nodes,broadcast,chunk_bytes,size_bytes,simulated_s,ideal_s.
//
//   broadcast_sim SIZE_BYTES METHOD|auto CHUNK_BYTES|0 BANDWIDTH_BYTES_PER_S
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/transport/chunk_buffer.hpp>
#include <distenv/transport/comm_mpi.hpp>
#include <distenv/transport/schedule.hpp>

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace distenv;

namespace {

// SIZE bytes as chunks of one shared buffer.
struct Stream : pack::ChunkSource {
  uint64_t left;
  size_t chunk;
  std::byte* buffer;
  Stream(uint64_t size, size_t c) : left(size), chunk(c), buffer(transport::allocate_chunk(c)) {}
  pack::Bytes next() override {
    const size_t n = left < chunk ? static_cast<size_t>(left) : chunk;
    left -= n;
    return pack::Bytes(buffer, n);
  }
};

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  if (argc != 5) {
    std::fprintf(stderr, "usage: broadcast_sim SIZE_BYTES METHOD|auto CHUNK_BYTES|0 BANDWIDTH\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const uint64_t size = std::strtoull(argv[1], nullptr, 10);
  const std::string name = argv[2];
  const double bandwidth = std::atof(argv[4]);
  int ranks = 0, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  // What the job does: chunk size and method from the stream's size and the
  // number of ranks, unless given.
  size_t chunk = std::strtoull(argv[3], nullptr, 10);
  if (chunk == 0)
    chunk = transport::choose_chunk_size(ranks, size);
  transport::Method method;
  if (name == "auto")
    method = transport::choose_method(ranks, size, chunk);
  else if (auto m = transport::parse_method(name))
    method = *m;
  else
    MPI_Abort(MPI_COMM_WORLD, 2);
  if (std::strtoull(argv[3], nullptr, 10) == 0)
    chunk = transport::fit_chunk(method, ranks, chunk);
  const int depth = transport::pipeline_depth(method, ranks);
  {
    auto world = transport::MpiComm::world();
    Stream source(size, chunk);
    MPI_Barrier(world->handle());
    const double start = MPI_Wtime();
    if (method.kind == transport::Method::mpi)
      // A window of one: SimGrid 3.32 deadlocks at the end of a stream of
      // overlapping MPI_Ibcasts (even one per communicator), which Open MPI
      // runs correctly (tests/mpi/broadcast_test.cpp). One at a time is a
      // segmented broadcast, which is what the library's algorithm gives.
      transport::broadcast_chunks_collective(*world, 0, chunk, 1, rank == 0 ? &source : nullptr, nullptr);
    else
      transport::broadcast_chunks(*world, transport::schedule(method, rank, ranks, 0), chunk, depth,
                                  rank == 0 ? &source : nullptr, nullptr);
    MPI_Barrier(world->handle()); // everyone has it
    const double seconds = MPI_Wtime() - start;
    if (rank == 0)
      std::printf("%d,%s,%zu,%llu,%.6f,%.6f,%.6f\n", ranks, transport::method_name(method).c_str(), chunk,
                  static_cast<unsigned long long>(size), seconds, static_cast<double>(size) / bandwidth,
                  transport::predicted_seconds(method, ranks, size, chunk, bandwidth, 1e-6));
  }
  MPI_Finalize();
  return 0;
}
