// Phase read: rank 0 reads the environment; every rank gets the plan.
#include <distenv/job/read.hpp>

#include <distenv/transport/comm.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/varint.hpp>

#include <algorithm>
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
    std::string both;
    const std::string env =
        cluster::JobPlan::from_tree(r.prepared->tree, r.prepared->layout.project).encode();
    put_varint(both, env.size());
    both += env;
    if (const std::optional<PreparedDepot>& d = r.prepared->depot) {
      cluster::JobPlan depot = cluster::JobPlan::from_tree(d->tree, "");
      for (const env::DepotUnit& u : d->closure.units)
        depot.units.push_back(u.path);
      both += depot.encode();
    }
    return both;
  });
  size_t at = 0;
  uint64_t length = 0;
  try {
    length = get_varint(plan, at);
  } catch (const std::out_of_range&) {
    length = plan.size() + 1;
  }
  if (length > plan.size() - std::min(at, plan.size()))
    throw transport::CommError("malformed plan from rank 0: truncated");
  r.plan = cluster::JobPlan::decode(plan.substr(at, length));
  if (at + length < plan.size())
    r.depot = cluster::JobPlan::decode(plan.substr(at + length));
  r.plan_bytes = plan.size();
  s.lap(Phase::read);
  return r;
}

} // namespace distenv::job
