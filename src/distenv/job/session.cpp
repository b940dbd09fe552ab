// What the phases of one job share.
#include <distenv/job/session.hpp>

#include <distenv/pipeline.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/util/style.hpp>

#include <thread>

namespace distenv {

std::string_view phase_name(Phase p) {
  switch (p) {
  case Phase::machines:
    return "machines";
  case Phase::read:
    return "read";
  case Phase::check:
    return "check";
  case Phase::transfer:
    return "transfer";
  case Phase::activate:
    return "activate";
  case Phase::depot:
    return "depot";
  case Phase::compile:
    return "compile";
  case Phase::each_machine:
    return "each_machine";
  case Phase::workers:
    return "workers";
  case Phase::collect:
    return "collect";
  case Phase::report:
    return "report";
  }
  return "?";
}

namespace job {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

cluster::Membership join(const cli::Options& o, JobContext& ctx) {
  cluster::JoinOptions j;
  j.connect_seconds = o.connect_timeout_seconds;
  j.heartbeat_seconds = ctx.heartbeats ? o.heartbeat_timeout_seconds : 0;
  j.end_job = [&ctx](const std::string& line) {
    if (!line.empty())
      ctx.err << error_prefix() + line + "; ending the job\n" << std::flush;
    else // the rank that names it first (silence_line)
      std::this_thread::sleep_for(std::chrono::seconds(3));
    ctx.world.abort(1);
  };
  return cluster::join(ctx.world, ctx.host, j);
}

Session::Session(const cli::Options& o, JobContext& c)
    : options(o), ctx(c), agree(c.world, c.host), membership(join(o, c)), store(store_for(o)) {
  lap(Phase::machines);
}

void Session::observe(Phase p) {
  check_stop(); // distenv run was interrupted: this phase fails everywhere, tidily
  if (ctx.observer)
    ctx.observer->phase(p);
}

void Session::lap(Phase p) {
  const auto now = Clock::now();
  const double seconds = std::chrono::duration<double>(now - m_lap).count();
  if (!m_phases.empty() && m_phases.back().first == phase_name(p))
    m_phases.back().second += seconds; // a phase in steps (the depot's check, then its transfer)
  else
    m_phases.emplace_back(phase_name(p), seconds);
  m_lap = now;
}

} // namespace job

} // namespace distenv
