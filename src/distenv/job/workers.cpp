// Phase workers: numbered across machines, started and supervised on each.
#include <distenv/job/workers.hpp>

#include <distenv/cluster/worker_signals.hpp>
#include <distenv/job/each_machine.hpp>
#include <distenv/transport/codec.hpp>
#include <distenv/util/style.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sys/resource.h>
#include <unistd.h>

namespace distenv::job {

namespace {

// --workers auto: the CPUs SLURM allocated on this node, else the machine's
// hardware threads (not the rank's CPU binding, which mpirun may have narrowed).
int auto_workers(const Session& s) {
  if (const int cpus = std::atoi(workers::env_value(s.ctx.environment, "SLURM_CPUS_ON_NODE").c_str());
      cpus > 0)
    return cpus;
  return static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
}

std::vector<workers::Spec> worker_specs(const Session& s, const Installed& in, const Numbering& n) {
  std::vector<workers::Spec> specs;
  for (int i = 0; i < n.local; ++i) {
    const workers::WorkerPlace place{s.self(), s.machines.count(), n.first + i, n.total, i, n.local};
    specs.push_back({command_of(s, in), in.activation(s, place), in.project_dir(),
                     fmt::format("{}:{}", s.ctx.host, n.first + i)});
  }
  return specs;
}

void start_and_supervise(Session& s, const Installed& in, const Numbering& n, cluster::StopNotices& notices,
                         cluster::WorkerSignals* signals, report::MachineResult& mine) {
  workers::Supervised r;
  workers::SuperviseOptions options = supervise_options(s, notices);
  if (signals)
    options.take_signals = [signals] { return signals->take(); };
  try {
    r = s.ctx.runner.run(worker_specs(s, in, n), options);
  } catch (const std::exception& e) { // fork or pipe failed: no worker ran here
    for (int i = 0; i < n.local; ++i)
      mine.workers.push_back({n.first + i, 127, fmt::format("could not be started: {}", e.what())});
  }
  if (r.interrupted_by)
    throw Error(r.interruption(), 128 + r.interrupted_by);
  for (size_t i = 0; i < r.exits.size(); ++i)
    mine.workers.push_back({n.first + static_cast<int>(i), r.exits[i].status(), r.exits[i].describe()});
}

// What the workers wrote into the environment goes to the output directory
// (install::Store::sweep_added); a failure to move it fails nothing.
void sweep(Session& s, const Installed& in, report::MachineResult& mine) {
  if (!in.in_use || in.output.empty())
    return;
  try {
    const install::Store::Swept w = s.store.sweep_added(in.tree, *in.in_use, in.output / "written",
                                                        in.meta.project, in.meta.mutable_files);
    mine.written_entries = w.entries;
    mine.written_bytes = w.bytes;
    for (const std::string& p : w.first)
      mine.written_first += (mine.written_first.empty() ? "" : ", ") + p;
  } catch (const std::exception& e) {
    s.ctx.err << warning_prefix() + s.ctx.host + ": " + e.what() + "\n" << std::flush;
  }
}

std::vector<std::string> gather_workers(Session& s, const Installed& in, const Numbering& n,
                                        cluster::WorkerSignals* signals) {
  return s.agree.stoppable_gather(0, [&](cluster::StopNotices& notices) {
    s.observe(Phase::workers);
    if (!s.leader())
      return std::string();
    report::MachineResult mine = in.mine;
    mine.phase_seconds = s.phase_seconds();
    if (n.local > 0) {
      try {
        start_and_supervise(s, in, n, notices, signals, mine);
      } catch (...) {
        sweep(s, in, mine);
        throw;
      }
      sweep(s, in, mine);
    }
    struct rusage usage {};
    ::getrusage(RUSAGE_SELF, &usage);
    mine.peak_rss_kib = static_cast<uint64_t>(usage.ru_maxrss);
    return transport::encode(mine);
  });
}

} // namespace

std::vector<std::string> command_of(const Session& s, const Installed& in) {
  return s.options.command.empty() ? in.meta.command : s.options.command;
}

Numbering number_workers(Session& s, const Installed& in) {
  // Rank 0 leads machine 0 and has read the metadata, so it knows for all
  // whether there is a command; the other leaders have read the same file.
  Numbering n;
  if (s.leader() && !command_of(s, in).empty())
    n.local = s.options.workers > 0 ? s.options.workers : auto_workers(s);
  const std::vector<std::string> counts = s.agree.all_gather([&] { return transport::encode(n.local); });
  for (int r = 0; r < s.ctx.world.size(); ++r) {
    const int count = transport::decode<int>(counts[static_cast<size_t>(r)]);
    n.counts.push_back(count);
    if (r < s.ctx.world.rank())
      n.first += count;
    n.total += count;
  }
  return n;
}

std::vector<std::string> run_workers(Session& s, const Installed& in, const Numbering& n) {
  // --control-stdin: every rank takes part in relaying rank 0's requests.
  std::optional<cluster::WorkerSignals> signals;
  if (s.options.control_stdin)
    signals.emplace(s.ctx.world, n.counts, s.ctx.control_fd, s.ctx.err);
  std::vector<std::string> results;
  try {
    results = gather_workers(s, in, n, signals ? &*signals : nullptr);
  } catch (const cluster::PhaseFailed&) { // every rank throws it: settle together
    if (signals)
      signals->settle();
    throw;
  }
  if (signals)
    signals->settle();
  s.lap(Phase::workers);
  return results;
}

} // namespace distenv::job
