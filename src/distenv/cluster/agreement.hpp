#pragma once

#include <distenv/cluster/stop_notices.hpp>
#include <distenv/transport/comm.hpp>
#include <distenv/util/error.hpp>

#include <functional>
#include <string>
#include <vector>

namespace distenv::cluster {

// A phase failed somewhere. Every rank throws it, with the same content:
// one line per failing machine ("node3: not enough space in ...").
class PhaseFailed : public Error {
public:
  PhaseFailed(std::vector<std::string> lines, int exit_code)
      : Error(lines.front(), exit_code), m_lines(std::move(lines)) {}
  const std::vector<std::string>& lines() const { return m_lines; }

private:
  std::vector<std::string> m_lines;
};

// One rank's outcome of a phase: exit_code 0 is success.
struct Outcome {
  int exit_code = 0;
  std::string message;
};

// Runs `step` and turns what it throws into an Outcome. CommError is not an
// outcome (the job cannot agree any more): it propagates.
Outcome attempt(const std::function<void()>& step);

// Phase boundaries. Every rank of `comm` calls the same phase in the same
// order; each runs its own step, then all learn how every step went. When
// any failed, every rank throws PhaseFailed with one line per failing
// machine ("<host>: <message>"; the first failure's exit code). Data that a
// phase shares travels only once everyone is known to be fine, so no rank
// ever waits for a peer that has given up.
class Agreement {
public:
  Agreement(transport::Comm& comm, std::string host) : m_comm(comm), m_host(std::move(host)) {}

  transport::Comm& comm() { return m_comm; }
  const std::string& host() const { return m_host; }

  // The outcome of each rank's part, agreed.
  void agree(const Outcome& mine);
  void phase(const std::function<void()>& step);
  // Each step returns this rank's bytes; after agreement every rank gets root's.
  std::string broadcast(int root, const std::function<std::string()>& step);
  // ... every rank's, by rank (one collective: outcome and data together).
  std::vector<std::string> all_gather(const std::function<std::string()>& step);
  // ... every rank's on root (empty elsewhere).
  std::vector<std::string> gather(int root, const std::function<std::string()>& step);
  // A phase whose steps may take long: a rank whose step fails stops the
  // others' steps (they poll the notices), then the outcome is agreed and
  // every rank's bytes reach root.
  std::vector<std::string> stoppable_gather(int root, const std::function<std::string(StopNotices&)>& step);

private:
  transport::Comm& m_comm;
  std::string m_host;
};

} // namespace distenv::cluster
