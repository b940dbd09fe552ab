// Benchmark baseline (not a test): rank 0 reads a file and broadcasts it to
// every rank with one plain MPI_Bcast of the raw bytes, as a script that
// "just broadcasts the tarball" would. Prints, on rank 0, one JSON line:
// seconds of the broadcast and the largest peak RSS (KiB) of any rank.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc != 2) {
    if (rank == 0)
      std::fprintf(stderr, "usage: bcast_baseline FILE\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  long long size = 0;
  std::vector<char> data;
  if (rank == 0) {
    FILE* f = std::fopen(argv[1], "rb");
    if (!f)
      MPI_Abort(MPI_COMM_WORLD, 2);
    std::fseek(f, 0, SEEK_END);
    size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    data.resize(static_cast<size_t>(size));
    if (std::fread(data.data(), 1, data.size(), f) != data.size())
      MPI_Abort(MPI_COMM_WORLD, 2);
    std::fclose(f);
  }
  MPI_Bcast(&size, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  data.resize(static_cast<size_t>(size));
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  for (long long off = 0; off < size; off += INT_MAX) // one call unless > 2 GiB
    MPI_Bcast(data.data() + off, static_cast<int>(std::min<long long>(INT_MAX, size - off)), MPI_BYTE, 0,
              MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  const double seconds = MPI_Wtime() - start;
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  long rss = u.ru_maxrss, max_rss = 0;
  MPI_Reduce(&rss, &max_rss, 1, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0)
    std::printf("{\"seconds\": %.4f, \"bytes\": %lld, \"peak_rss_kib\": %ld}\n", seconds, size, max_rss);
  MPI_Finalize();
  return 0;
}
