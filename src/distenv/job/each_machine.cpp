// Phase each-machine: the once-per-machine commands.
#include <distenv/job/each_machine.hpp>

#include <fmt/format.h>

namespace distenv::job {

workers::SuperviseOptions supervise_options(const Session& s, cluster::StopNotices& notices) {
  workers::SuperviseOptions so;
  so.grace_seconds = s.options.grace_seconds;
  so.should_stop = [&notices] { return notices.requested(); };
  return so;
}

namespace {

std::vector<std::string> steps_of(const Session& s, const Installed& in) {
  std::vector<std::string> steps;
  steps.insert(steps.end(), in.meta.each_machine.begin(), in.meta.each_machine.end());
  steps.insert(steps.end(), s.options.each_machine.begin(), s.options.each_machine.end());
  return steps;
}

} // namespace

void each_machine(Session& s, const Installed& in) {
  s.agree.stoppable_gather(0, [&](cluster::StopNotices& notices) {
    s.observe(Phase::each_machine);
    if (!s.leader())
      return std::string();
    const auto env = in.activation(s, std::nullopt);
    for (const std::string& step : steps_of(s, in)) {
      const workers::Supervised r =
          s.ctx.runner.run({{{"sh", "-c", step}, env, in.project_dir(), s.ctx.host + ":each-machine"}},
                           supervise_options(s, notices));
      if (r.interrupted_by)
        throw Error(fmt::format("{} during each-machine command '{}'", r.interruption(), step),
                    128 + r.interrupted_by);
      if (r.stopped)
        break; // another machine failed: it says why
      if (r.exits[0].status() != 0)
        throw Error(fmt::format("each-machine command '{}' {}", step, r.exits[0].describe()));
    }
    return std::string();
  });
  s.lap(Phase::each_machine);
}

} // namespace distenv::job
