// Phase report: the summary on rank 0; one exit code for all.
#include <distenv/job/report.hpp>

#include <distenv/pipeline.hpp>
#include <distenv/transport/codec.hpp>
#include <distenv/util/style.hpp>
#include <distenv/util/units.hpp>

#include <fmt/format.h>

namespace distenv::job {

int report(Session& s, report::JobReport job, const std::vector<std::string>& results) {
  int exit_code = 0;
  s.agree.phase([&] {
    s.observe(Phase::report);
    if (!s.root())
      return;
    for (const std::string& r : results)
      if (!r.empty())
        job.results.push_back(transport::decode<report::MachineResult>(r));
    job.wall_seconds = seconds_since(s.start);
    if (!s.options.quiet)
      s.ctx.out << job.workers_summary(s.options.verbose) << std::flush;
    for (const report::MachineResult& m : job.results)
      if (m.written_entries && !s.options.quiet)
        s.ctx.err << warning_prefix() +
                         fmt::format("{}: the job wrote {} entr{} ({}) into the environment ({}{}): moved to "
                                     "$DISTENV_OUTPUT/written; write results into $DISTENV_OUTPUT",
                                     m.host, m.written_entries, m.written_entries == 1 ? "y" : "ies",
                                     human_bytes(m.written_bytes), m.written_first,
                                     m.written_entries > 3 ? ", ..." : "") +
                         "\n";
    for (const std::string& f : job.failures())
      s.ctx.err << error_prefix() + f + "\n";
    s.ctx.err << std::flush;
    write_report(s.options.report, job.json());
    exit_code = job.exit_code();
  });
  return transport::broadcast_value(s.ctx.world, exit_code, 0);
}

} // namespace distenv::job
