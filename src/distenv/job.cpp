// The job across machines: the list of its phases (each in job/).
#include <distenv/job.hpp>

#include <distenv/job/activate.hpp>
#include <distenv/job/check.hpp>
#include <distenv/job/collect.hpp>
#include <distenv/job/compile.hpp>
#include <distenv/job/depot.hpp>
#include <distenv/job/each_machine.hpp>
#include <distenv/job/read.hpp>
#include <distenv/job/report.hpp>
#include <distenv/job/status.hpp>
#include <distenv/job/transfer.hpp>
#include <distenv/job/workers.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/util/style.hpp>

#include <fmt/format.h>

#include <functional>

namespace distenv {

namespace {

int the_job(const cli::Options& o, JobContext& ctx) {
  job::Session s(o, ctx); // machines: ranks grouped by host
  job::Outputs out;       // collect: what the job brings back, once named
  try {
    const job::Read r = job::read(s); // read: rank 0 reads; every rank gets the plan
    out = job::name_job(s, r.prepared ? r.prepared->env.activation.collect : std::vector<std::string>{});
    job::Checked c = job::check(s, r.plan);       // check: each machine's store
    job::Transferred t = job::transfer(s, r.plan, // transfer: pack, broadcast, install
                                       r.prepared ? &r.prepared->tree : nullptr, c);
    const job::Transferred d = job::transfer_depot(s, r);            // depot: registered packages, artifacts
    const job::Installed in = job::activate(s, r, t, d, out.job_id); // activate: metadata, runtime, in use
    out.dir = in.output;
    const auto compiled = job::compile(s, r, in);        // compile: once per class, caches sent
    job::each_machine(s, in);                            // each-machine: once-per-machine commands
    const job::Numbering n = job::number_workers(s, in); // workers: numbered across machines,
    const std::vector<std::string> results = job::run_workers(s, in, n); // started and supervised on each
    auto collected = job::collect(s, out); // collect: outputs back to the launching machine
    report::JobReport job = job::job_report(s, r, t, d, job::command_of(s, in), compiled);
    job.collected = std::move(collected);
    return job::report(s, std::move(job), results); // report: one exit code
  } catch (const cluster::PhaseFailed&) {
    job::collect(s, out, true); // a failed job's outputs too (the collecting rank waits for it)
    throw;
  }
}

// The context of the machines' ranks alone (cluster::enter), beside a
// collecting rank in `ctx.world`.
JobContext machines_only(JobContext& ctx, transport::Comm& machines, int collector) {
  JobContext job{machines, ctx.host, ctx.runner, ctx.environment, ctx.out, ctx.err, ctx.observer};
  job.heartbeats = ctx.heartbeats;
  job.control_fd = ctx.control_fd;
  job.results = collector >= 0 ? &ctx.world : nullptr;
  job.collector = collector;
  job.julia_class = ctx.julia_class;
  job.progress = ctx.progress;
  job.progress_interval = ctx.progress_interval;
  return job;
}

// The one ending of a job that fails: agreed failures are printed by rank 0
// (every rank knows them); a failure the ranks cannot agree on (the
// transport, malformed peer data, anything outside a phase) is named by the
// rank that saw it, and ends the job everywhere.
int ended(JobContext& ctx, const std::function<int()>& body) {
  try {
    return body();
  } catch (const cluster::PhaseFailed& f) {
    // Stopped everywhere by distenv run, which says so itself: no line per machine.
    const bool all_stopped = std::all_of(f.lines().begin(), f.lines().end(), [](const std::string& l) {
      return l.find(k_stop_message) != std::string::npos;
    });
    if (ctx.world.rank() == 0 && !(all_stopped && stop_asked())) {
      for (const std::string& line : f.lines())
        // One write per line: a launcher that forwards stdout and stderr
        // separately (SLURM) may interleave them, but never within a write.
        ctx.err << error_prefix() + line + "\n";
      ctx.err << std::flush;
    }
    return f.exit_code();
  } catch (const std::exception& e) {
    ctx.err << fmt::format("{}{}: {}; ending the job\n", error_prefix(), ctx.host, e.what()) << std::flush;
    ctx.world.abort(1);
  }
  return 1; // not reached: abort() does not return
}

} // namespace

int run_job(const cli::Options& o, JobContext& ctx) {
  return ended(ctx, [&] {
    const cluster::Entered e = cluster::enter(ctx.world, ctx.host, o.connect_timeout_seconds, o.collector);
    if (o.collector)
      return job::run_collector(o, ctx.world);
    JobContext job = machines_only(ctx, *e.job, e.collector);
    return ended(job, [&] { return the_job(o, job); });
  });
}

int run_status(const cli::Options& o, JobContext& ctx) {
  return ended(ctx, [&] { return job::status(o, ctx); });
}

int run_gc(const cli::Options& o, JobContext& ctx) {
  return ended(ctx, [&] { return job::gc(o, ctx); });
}

} // namespace distenv
