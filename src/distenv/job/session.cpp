// What the phases of one job share.
#include <distenv/job/session.hpp>

#include <distenv/pipeline.hpp>

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
  case Phase::each_machine:
    return "each_machine";
  case Phase::workers:
    return "workers";
  case Phase::report:
    return "report";
  }
  return "?";
}

namespace job {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Session::Session(const cli::Options& o, JobContext& c)
    : options(o), ctx(c), agree(c.world, c.host),
      machines(cluster::discover_machines(c.world, c.host, o.connect_timeout_seconds)), store(store_for(o)) {
  lap(Phase::machines);
}

void Session::observe(Phase p) {
  if (ctx.observer)
    ctx.observer->phase(p);
}

void Session::lap(Phase p) {
  const auto now = Clock::now();
  m_phases.emplace_back(phase_name(p), std::chrono::duration<double>(now - m_lap).count());
  m_lap = now;
}

} // namespace job

} // namespace distenv
