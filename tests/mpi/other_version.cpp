// A rank of another distenv, for the version handshake's tests under real
// mpirun (MPMD: `mpirun -np 1 distenv-bootstrap ... : -np 1 this ARG`):
//   old      starts as distenv 0.1.0 did, before the handshake: with the
//            machine split, a collective the handshake never matches
//   VERSION  does the handshake claiming VERSION, then ends as told
#include <distenv/cluster/agreement.hpp>
#include <distenv/cluster/handshake.hpp>
#include <distenv/transport/comm_mpi.hpp>

#include <mpi.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "old";
  MPI_Init(&argc, &argv);
  if (what == "old") { // its world communicator (a dup, as every version makes), then the machine split
    MPI_Comm world, node;
    MPI_Comm_dup(MPI_COMM_WORLD, &world);
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node); // waits for ever
  } else {
    auto world = distenv::transport::MpiComm::world();
    try {
      distenv::cluster::check_versions(*world, "other", 30, what);
    } catch (const distenv::cluster::PhaseFailed& e) {
      std::fprintf(stderr, "other version: %s\n", e.what());
    }
  }
  MPI_Finalize();
  return 1;
}
