#pragma once

#include <distenv/transport/comm.hpp>

#include <string>
#include <vector>

namespace distenv::cluster {

// Ranks that share a machine (MPI_COMM_TYPE_SHARED) act as one machine: the
// lowest of them, the leader, installs and spawns that machine's workers.
struct Machine {
  std::string host;
  int leader = 0; // world rank
  int ranks = 1;
};

struct Machines {
  std::vector<Machine> all; // ordered by leader rank: machine 0 holds rank 0
  int self = 0;             // this rank's machine
  bool leader = false;      // this rank acts for its machine

  int count() const { return static_cast<int>(all.size()); }
  const Machine& mine() const { return all[static_cast<size_t>(self)]; }
};

// Collective over `world`; `host` is this rank's machine name. Starts with
// the version handshake (cluster/handshake.hpp): every machine must answer
// within `connect_seconds`.
Machines discover_machines(transport::Comm& world, const std::string& host, double connect_seconds = 60);

} // namespace distenv::cluster
