// Phase read: rank 0 reads the environment; every rank gets the plan.
#include <distenv/job/read.hpp>

#include <distenv/util/files.hpp>
#include <distenv/util/style.hpp>

namespace distenv::job {

Read read(Session& s) {
  Read r;
  const std::string plan = s.agree.broadcast(0, [&] {
    s.observe(Phase::read);
    if (!s.root())
      return std::string();
    check_output_path(s.options.report, "--report");
    r.prepared = prepare(s.options);
    if (!s.options.quiet)
      for (const std::string& w : r.prepared->warnings)
        s.ctx.err << warning_prefix() + w + "\n"; // one write per line: see run_job
    s.ctx.err << std::flush;
    return cluster::JobPlan::from_tree(r.prepared->tree, r.prepared->layout.project).encode();
  });
  r.plan = cluster::JobPlan::decode(plan);
  r.plan_bytes = plan.size();
  s.lap(Phase::read);
  return r;
}

} // namespace distenv::job
