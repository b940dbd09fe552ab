// Joining a job: the handshake, heartbeats, and ranks grouped into machines.
#include <distenv/cluster/machines.hpp>

#include <distenv/cluster/handshake.hpp>
#include <distenv/transport/codec.hpp>

#include <fmt/format.h>

#include <map>

namespace distenv::cluster {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Machine, host, leader, ranks)

namespace {

Machines group_machines(transport::Comm& world, const std::string& host) {
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

std::unique_ptr<HeartbeatThread> start_heartbeats(transport::Comm& world, std::vector<std::string> hosts,
                                                  const JoinOptions& o) {
  std::unique_ptr<transport::Comm> comm = world.duplicate(o.connect_seconds);
  if (!comm)
    throw transport::CommError(fmt::format(
        "not every machine took part in starting the heartbeats within {:g} s", o.connect_seconds));
  const int rank = world.rank();
  const double timeout = o.heartbeat_seconds;
  return std::make_unique<HeartbeatThread>(std::move(comm), timeout,
                                           [rank, timeout, hosts = std::move(hosts), end_job = o.end_job](
                                               const std::vector<int>& silent, double seconds) {
                                             end_job(silence_line(rank, silent, seconds, timeout, hosts));
                                           });
}

} // namespace

Membership join(transport::Comm& world, const std::string& host, const JoinOptions& o) {
  Membership m;
  std::vector<std::string> hosts = check_versions(world, host, o.connect_seconds, version());
  if (o.heartbeat_seconds > 0 && world.size() > 1)
    m.heartbeats = start_heartbeats(world, std::move(hosts), o);
  m.machines = group_machines(world, host);
  return m;
}

Machines discover_machines(transport::Comm& world, const std::string& host, double connect_seconds) {
  check_versions(world, host, connect_seconds, version());
  return group_machines(world, host);
}

} // namespace distenv::cluster
