#pragma once

#include <distenv/cluster/heartbeat.hpp>
#include <distenv/transport/comm.hpp>

#include <functional>
#include <memory>
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

struct JoinOptions {
  double connect_seconds = 60;  // every machine answers the handshake within this
  double heartbeat_seconds = 0; // a rank silent for longer ends the job; 0: no heartbeats
  // Called once, on the heartbeat thread, when ranks fall silent, with the
  // line that names them ("" on ranks that should stay quiet); it ends the
  // job (Comm::abort).
  std::function<void(const std::string& line)> end_job;
};

// The first steps of every job: the version handshake (cluster/handshake.hpp),
// then heartbeats on a communicator of their own (so that every later wait,
// collectives and all, is bounded by them), then the machines.
struct Membership {
  Machines machines;
  std::unique_ptr<HeartbeatThread> heartbeats; // null when off
};

// Collective over `world`; `host` is this rank's machine name.
Membership join(transport::Comm& world, const std::string& host, const JoinOptions& options);

// The handshake and the machines, without heartbeats (tests).
Machines discover_machines(transport::Comm& world, const std::string& host, double connect_seconds = 60);

} // namespace distenv::cluster
