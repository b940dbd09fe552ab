#pragma once

#include <distenv/cli/options.hpp>
#include <distenv/cluster/agreement.hpp>
#include <distenv/cluster/machines.hpp>
#include <distenv/install/store.hpp>
#include <distenv/job/context.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace distenv::job {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start);

// How a job, --status or --gc joins the machines: --connect-timeout, and
// heartbeats (--heartbeat-timeout) when the transport allows a second
// thread; a silence is printed on ctx.err and ends the job (exit 1).
cluster::Membership join(const cli::Options& options, JobContext& ctx);

// What every phase of one job shares, and nothing a phase produces: the
// options, the context, the agreement, the machines (found when the session
// starts: a collective), this machine's store, and the clock of the phases.
class Session {
public:
  Session(const cli::Options& options, JobContext& ctx);

  const cli::Options& options;
  JobContext& ctx;
  cluster::Agreement agree;
  cluster::Membership membership; // the handshake, the heartbeats (for the whole job), the machines
  const cluster::Machines& machines = membership.machines;
  install::Store store;

  bool root() const { return ctx.world.rank() == 0; }
  bool leader() const { return machines.leader; }
  int self() const { return machines.self; } // this rank's machine
  const Clock::time_point start = Clock::now();

  // Tells the observer this rank starts `p` (inside the phase's step: what
  // the observer throws fails this rank there).
  void observe(Phase p);
  // `p` has ended on this rank: its time goes into the report.
  void lap(Phase p);
  const std::vector<std::pair<std::string, double>>& phase_seconds() const { return m_phases; }

private:
  Clock::time_point m_lap = start;
  std::vector<std::pair<std::string, double>> m_phases;
};

} // namespace distenv::job
