// Grouping MPI ranks into machines.
#include <distenv/cluster/machines.hpp>

#include <distenv/util/files.hpp>

#include <boost/mpi/collectives.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace distenv::cluster {

Machines discover_machines(const boost::mpi::communicator& world) {
  MPI_Comm node;
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, world.rank(), MPI_INFO_NULL, &node);
  int node_size = 1, leader = world.rank();
  MPI_Comm_size(node, &node_size);
  MPI_Bcast(&leader, 1, MPI_INT, 0, node);
  MPI_Comm_free(&node);

  std::vector<std::string> everyone;
  boost::mpi::all_gather(world, fmt::format("{} {} {}", leader, node_size, machine_name()), everyone);
  std::map<int, Machine> by_leader;
  for (const std::string& line : everyone) {
    std::istringstream in(line);
    Machine m;
    in >> m.leader >> m.ranks >> m.host;
    by_leader[m.leader] = m;
  }
  Machines machines;
  for (const auto& [rank, m] : by_leader) {
    if (rank == leader)
      machines.self = static_cast<int>(machines.all.size());
    machines.all.push_back(m);
  }
  machines.leader = leader == world.rank();
  return machines;
}

} // namespace distenv::cluster
