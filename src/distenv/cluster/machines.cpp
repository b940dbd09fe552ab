// Grouping ranks into machines.
#include <distenv/cluster/machines.hpp>

#include <distenv/cluster/handshake.hpp>
#include <distenv/transport/codec.hpp>

#include <map>

namespace distenv::cluster {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Machine, host, leader, ranks)

Machines discover_machines(transport::Comm& world, const std::string& host, double connect_seconds) {
  check_versions(world, host, connect_seconds, version());
  const std::unique_ptr<transport::Comm> node = world.split_machine();
  const int leader = transport::broadcast_value(*node, world.rank(), 0);
  std::map<int, Machine> by_leader;
  for (const Machine& m : transport::all_gather_values(world, Machine{host, leader, node->size()}))
    by_leader[m.leader] = m;
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
