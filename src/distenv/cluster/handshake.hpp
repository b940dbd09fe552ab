#pragma once

#include <distenv/transport/comm.hpp>

#include <memory>
#include <string>
#include <vector>

namespace distenv::cluster {

// What crosses machines, as a number: raise it with any change to a message
// (transport/codec.hpp users, the plan, the stream's tags).
inline constexpr int k_protocol = 5; // 3: heartbeats (cluster/heartbeat.hpp); 4: the depot plan; 5: results

// The first step of every job: every rank says which distenv (version,
// protocol) runs on which machine, in Comm::hello. Machines that differ end
// the job on every rank with one line naming them (cluster::PhaseFailed,
// exit 1). A rank that does not take part within `seconds` (a distenv older
// than this handshake starts with another collective, or its host is
// stuck) ends the job: transport::CommError, which rank 0 reports first.
// Returns every rank's host, by rank.
std::vector<std::string> check_versions(transport::Comm& world, const std::string& host, double seconds,
                                        const std::string& version, int protocol = k_protocol);

// How a job starts (run_job): the handshake above on the whole world, in
// which each rank also says whether it is the collecting rank (`distenv run
// --collect` adds one on the launching machine: --collector), then the
// machines' ranks apart from it. A job has at most one collecting rank.
struct Entered {
  std::unique_ptr<transport::Comm> job; // the machines' ranks (the collector: itself alone)
  int collector = -1;                   // its rank in the world, or -1
  std::string collector_host;
};
Entered enter(transport::Comm& world, const std::string& host, double seconds, bool collector);

// This build's version ("0.1.0").
const char* version();

} // namespace distenv::cluster
