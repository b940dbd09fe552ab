// The job across machines, one call per stage (see docs/ARCHITECTURE.md).
#include <distenv/job.hpp>

#include <distenv/cluster/agreement.hpp>
#include <distenv/cluster/machines.hpp>
#include <distenv/cluster/plan.hpp>
#include <distenv/install/async_install.hpp>
#include <distenv/install/local_contents.hpp>
#include <distenv/install/store.hpp>
#include <distenv/layout/metadata.hpp>
#include <distenv/pack/async_pack.hpp>
#include <distenv/pack/estimate.hpp>
#include <distenv/pipeline.hpp>
#include <distenv/report/job_report.hpp>
#include <distenv/report/progress.hpp>
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/transport/codec.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/style.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/units.hpp>
#include <distenv/cluster/status.hpp>
#include <distenv/env/environment.hpp>
#include <distenv/workers/activation.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <unordered_set>
#include <sys/resource.h>
#include <unistd.h>

namespace distenv {

namespace {

using clock = std::chrono::steady_clock;

constexpr size_t k_depth = 3; // chunks in flight per stage: memory is a few chunks
// After the stream, each receiver tells rank 0 whether it installed (1 byte).
constexpr int k_tag_installed = 0x6410;

double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

// A chunk source that has already failed: the root's way of telling the
// receivers to abort when it cannot even start packing.
class FailedSource : public pack::ChunkSource {
public:
  explicit FailedSource(std::exception_ptr failure) : m_failure(std::move(failure)) {}
  pack::Bytes next() override { std::rethrow_exception(m_failure); }

private:
  std::exception_ptr m_failure;
};

struct Transfer {
  report::Install install = report::Install::reused;
  uint64_t bytes_received = 0;
  uint64_t local_files = 0, local_bytes = 0; // copied from environments already here
  double install_seconds = 0;
  uint64_t archive_bytes = 0; // rank 0: stream size
  uint64_t chunk_bytes = 0;
  double seconds = 0;
  std::string algorithm;
  int receivers = 0;
};

class Job {
public:
  Job(const cli::Options& o, JobContext& ctx)
      : m_o(o), m_ctx(ctx), m_agree(ctx.world, ctx.host), m_store(store_for(o)), m_root(ctx.world.rank() == 0) {}

  int run() {
    m_machines = cluster::discover_machines(m_ctx.world, m_ctx.host); // machines: ranks grouped by host
    timed("machines");
    read();                                     // read: rank 0 reads the environment; all get the plan
    timed("read");
    check();                                    // check: each machine's store; who receives is decided
    timed("check");
    transfer();                                 // transfer: pack, broadcast, install where it is missing
    timed("transfer");
    activate();                                 // activate: installed metadata, runtime, an in-use mark
    timed("activate");
    each_machine();                             // each-machine: once-per-machine commands
    timed("each_machine");
    number_workers();                           // workers: numbered across machines,
    const std::vector<std::string> results = run_workers(); // started and supervised on each
    timed("workers");
    return report(results);                     // report: the summary on rank 0; one exit code for all
  }

private:
  void observe(std::string_view phase) {
    if (m_ctx.observer)
      m_ctx.observer->phase(phase);
  }
  // The phase that just ended, and how long it took on this rank.
  void timed(const char* phase) {
    const auto now = clock::now();
    m_phases.emplace_back(phase, std::chrono::duration<double>(now - m_phase_start).count());
    m_phase_start = now;
  }
  bool leader() const { return m_machines.leader; }
  int self() const { return m_machines.self; }

  void read() {
    const std::string plan = m_agree.broadcast(0, [&] {
      observe("read");
      if (!m_root)
        return std::string();
      check_output_path(m_o.report, "--report");
      m_prepared = prepare(m_o);
      if (!m_o.quiet)
        for (const std::string& w : m_prepared->warnings)
          m_ctx.err << warning_prefix() + w + "\n"; // one write per line: see run_job
      m_ctx.err << std::flush;
      m_plan = cluster::JobPlan::from_tree(m_prepared->tree, m_prepared->layout.project);
      return m_plan.encode();
    });
    m_plan_bytes = plan;
    m_plan_size = plan.size();
  }

  void check() {
    const std::vector<std::string> replies = m_agree.all_gather([&] {
      observe("check");
      if (!m_root)
        m_plan = cluster::JobPlan::decode(m_plan_bytes);
      m_plan_bytes.clear();
      if (!leader())
        return std::string();
      cluster::StoreState st;
      st.store_id = m_store.identity();
      st.has = m_store.has(m_plan.tree_hash);
      if (st.has) { // in use from now on: a gc running meanwhile must leave it
        try {
          m_in_use = std::make_shared<install::Store::InUse>(m_store, m_plan.tree_hash);
        } catch (const InputError&) {
          throw;
        } catch (const Error&) {
          st.has = false; // removed just now: it will be sent
        }
      }
      if (!st.has) {
        install::check_free_space(m_store.envs_dir(), m_plan.disk_estimate(m_store.block_size()));
        // The per-file delta: which of the plan's contents are here already.
        std::vector<hash::Hash128> wanted;
        for (const cluster::JobPlan::Content& c : m_plan.contents)
          wanted.push_back(c.hash);
        m_here = std::make_unique<install::LocalContents>(m_store, wanted);
      }
      return transport::encode(st);
    });
    for (const cluster::Machine& m : m_machines.all)
      m_states.push_back(transport::decode<cluster::StoreState>(replies[static_cast<size_t>(m.leader)]));
  }

  // Which contents at least one receiver lacks: one bit per distinct content
  // of the plan, OR-reduced over every rank (a collective every rank reaches
  // after the agreed check; those that do not receive give zeros).
  void decide_contents(bool receiving) {
    std::string lacking((m_plan.contents.size() + 7) / 8, '\0');
    if (receiving)
      for (size_t i = 0; i < m_plan.contents.size(); ++i)
        if (!m_here || !m_here->has(m_plan.contents[i].hash))
          lacking[i / 8] = static_cast<char>(lacking[i / 8] | (1 << (i % 8)));
    lacking = m_ctx.world.all_or(lacking);
    if (!m_root)
      return;
    for (size_t i = 0; i < m_plan.contents.size(); ++i)
      if (!(lacking[i / 8] & (1 << (i % 8))))
        m_everyone_has.insert(m_plan.contents[i].hash);
  }

  void transfer() {
    const std::vector<int> receivers = cluster::choose_receivers(m_states);
    m_transfer.receivers = static_cast<int>(receivers.size());
    const bool receiving = leader() && std::count(receivers.begin(), receivers.end(), self()) > 0;
    if (!m_states[static_cast<size_t>(self())].has && !receiving)
      m_transfer.install = report::Install::shared;
    // Every rank takes part in the split, outside the step: a collective
    // that only some ranks reach would never end.
    std::unique_ptr<transport::Comm> group;
    if (!receivers.empty()) {
      decide_contents(receiving);
      group = m_ctx.world.split(m_root || receiving ? 0 : -1);
    }
    m_agree.phase([&] {
      std::exception_ptr failure;
      try {
        observe("transfer");
      } catch (...) {
        failure = std::current_exception();
      }
      if (group)
        stream(*group, receiving, failure);
      else if (failure)
        std::rethrow_exception(failure);
    });
  }

  // How the stream travels and in what chunks: rank 0 decides from the
  // archive's estimated size (a compressed sample of what is to be sent) and
  // the number of machines, unless --broadcast / --chunk-size say, and tells
  // the group. A rank 0 that has failed still tells (the stream then aborts).
  std::pair<transport::Method, size_t> choose_broadcast(transport::Comm& group, std::exception_ptr& failure) {
    std::string how;
    if (m_root) {
      transport::Method method = m_o.broadcast.value_or(transport::Method::chain());
      size_t chunk = m_o.chunk_size ? m_o.chunk_size : size_t(1) << 20;
      if (!failure && (!m_o.broadcast || !m_o.chunk_size)) {
        try {
          const uint64_t estimate = pack::estimate_archive_bytes(
              m_prepared->tree, [this](const hash::Hash128& h) { return m_everyone_has.count(h) == 0; },
              m_o.zstd_level);
          if (!m_o.chunk_size)
            chunk = transport::choose_chunk_size(group.size(), estimate);
          if (!m_o.broadcast)
            method = transport::choose_method(group.size(), estimate, chunk);
        } catch (...) {
          failure = std::current_exception();
        }
      }
      if (method.kind == transport::Method::two_tree && group.size() <= 2)
        method = transport::Method::chain(); // one receiver: both trees would be the one link
      if (!m_o.chunk_size)
        chunk = transport::fit_chunk(method, group.size(), chunk);
      how = fmt::format("{} {} {}", static_cast<int>(method.kind), method.fanout, chunk);
    }
    how = group.broadcast(how, 0);
    int kind = 0, fanout = 0;
    unsigned long long chunk = 0;
    if (std::sscanf(how.c_str(), "%d %d %llu", &kind, &fanout, &chunk) != 3 || chunk == 0)
      throw transport::CommError("malformed broadcast choice from rank 0");
    return {transport::Method{static_cast<transport::Method::Kind>(kind), fanout}, static_cast<size_t>(chunk)};
  }

  // The pipelined broadcast from rank 0 to the receiving machines, each of
  // which installs while the stream passes through. A rank that has failed
  // (`failure`) still takes its part, so that nobody waits for it: rank 0
  // tells everyone to abort, a receiver forwards without installing.
  void stream(transport::Comm& group, bool receiving, std::exception_ptr failure) {
    const auto start = clock::now();
    const auto [method, chunk] = choose_broadcast(group, failure);
    m_transfer.algorithm = transport::method_name(method);
    m_transfer.chunk_bytes = chunk;
    std::optional<install::AsyncInstall> installer;
    std::optional<report::Progress> progress; // rank 0, before the packer that reports to it
    std::optional<pack::AsyncPack> packer;
    if (!failure) {
      try {
        if (receiving)
          installer.emplace(
              m_store, m_plan.tree_hash, m_plan.disk_estimate(m_store.block_size()), k_depth,
              [this](uint64_t bytes) {
                if (m_ctx.observer)
                  m_ctx.observer->installed(bytes);
              },
              m_here.get());
        if (m_root) {
          pack::PackOptions po;
          po.chunk_size = chunk;
          po.zstd_level = m_o.zstd_level;
          po.zstd_threads = m_o.zstd_threads;
          po.send = [this](const hash::Hash128& h) { return m_everyone_has.count(h) == 0; };
          if (m_ctx.progress) {
            uint64_t total = 0;
            for (const layout::FileEntry& e : m_prepared->tree.entries)
              if (e.type == hash::EntryType::file && m_everyone_has.count(e.hash) == 0)
                total += e.size;
            // The other machines it goes to (rank 0's own install is the
            // summary's "installed here too").
            const int others = group.size() - 1;
            progress.emplace(m_ctx.progress, report::Progress::style_for(m_ctx.progress, m_o.quiet),
                             others > 0 ? fmt::format("sending to {} machine{}", others, others == 1 ? "" : "s")
                                        : std::string("installing here"),
                             total, others, m_ctx.progress_interval);
            po.progress = [&progress](uint64_t done) { progress->update(done); };
          }
          packer.emplace(m_prepared->tree, po, k_depth);
        }
      } catch (...) {
        failure = std::current_exception();
        installer.reset();
      }
    }
    FailedSource failed(failure);
    pack::ChunkSource* source = m_root ? (packer ? &packer->source() : &failed) : nullptr;
    pack::ChunkSink* sink = installer ? &installer->sink() : nullptr;
    const transport::BroadcastResult r =
        method.kind == transport::Method::mpi
            ? transport::broadcast_chunks_collective(group, 0, chunk, static_cast<int>(k_depth), source, sink)
            : transport::broadcast_chunks(group, transport::schedule(method, group.rank(), group.size(), 0), chunk,
                                          transport::pipeline_depth(method, group.size()), source, sink);
    std::exception_ptr error = failure;
    bool installed = false;
    if (!error) {
      try {
        installed = finish_stream(r, installer, packer, start);
      } catch (...) {
        error = std::current_exception();
      }
    }
    // Rank 0 counts the machines that have installed (its progress line);
    // every receiver tells it, whatever happened here, so it waits for none
    // that will not tell.
    if (m_root) {
      for (int i = 1; i < group.size(); ++i) {
        std::byte done{};
        group.recv(transport::Comm::k_any, k_tag_installed, transport::MutableBytes(&done, 1));
        if (progress && done == std::byte{1})
          progress->installed();
      }
      if (progress && !error)
        progress->finish();
    } else {
      const std::byte done{installed ? uint8_t(1) : uint8_t(0)};
      group.send(0, k_tag_installed, transport::Bytes(&done, 1));
    }
    if (error)
      std::rethrow_exception(error);
    m_transfer.seconds = seconds_since(start);
  }

  // This machine's end of the stream: the packer's or the installer's.
  // Whether the environment is now installed here.
  bool finish_stream(const transport::BroadcastResult& r, std::optional<install::AsyncInstall>& installer,
                     std::optional<pack::AsyncPack>& packer, clock::time_point start) {
    if (m_root) {
      m_transfer.archive_bytes = r.bytes;
      packer->finish();
    } else {
      m_transfer.bytes_received = r.bytes;
      if (!r.complete)
        return false; // rank 0 says why; ~AsyncInstall leaves nothing behind
    }
    if (!installer)
      return false;
    if (r.sink_error)
      installer->abort(r.sink_error);
    const install::Store::Result done = installer->finish();
    m_in_use = done.in_use;
    m_transfer.install = done.reused ? report::Install::reused : report::Install::received;
    m_transfer.local_files = done.local_files;
    m_transfer.local_bytes = done.local_bytes;
    if (m_here && !done.reused)
      m_here->learn(m_store, m_plan.tree_hash);
    m_transfer.install_seconds = seconds_since(start);
    if (m_root)
      m_transfer.bytes_received = done.reused ? 0 : m_transfer.archive_bytes;
    return true;
  }

  // Every machine checks what it installed (metadata, runtime) and tells
  // rank 0 how it came to be there; rank 0 prints the per-machine table
  // now, before once-per-machine steps and workers (a sweep may run hours).
  void activate() {
    const std::vector<std::string> installs = m_agree.gather(0, [&] {
      observe("activate");
      if (!leader())
        return std::string();
      if (!m_store.has(m_plan.tree_hash))
        throw Error(fmt::format("the environment is not in {} after the install", m_store.envs_dir().string()));
      if (!m_in_use) // a machine that shares a store another machine installed into
        m_in_use = std::make_shared<install::Store::InUse>(m_store, m_plan.tree_hash);
      const fs::path file = root() / layout::k_metadata_path;
      m_meta = layout::metadata_from_json(read_file(file), file.string());
      if (!m_meta.runtime.empty()) {
        const auto env = activation(std::nullopt);
        if (find_program(m_meta.runtime, workers::env_value(env, "PATH")).empty())
          throw Error(fmt::format("runtime '{}' not found on PATH{}{}", m_meta.runtime,
                                  m_meta.runtime_hint.empty() ? "" : "; ", m_meta.runtime_hint));
      }
      return transport::encode(machine_result());
    });
    if (m_root && !m_o.quiet) {
      report::JobReport job = job_report(installs);
      m_ctx.out << job.install_summary() << std::flush;
    }
  }

  // This machine's part of the report, before its workers ran.
  report::MachineResult machine_result() const {
    report::MachineResult mine;
    mine.host = m_ctx.host;
    mine.machine = self();
    mine.ranks = m_machines.mine().ranks;
    mine.install_dir = root().string();
    mine.project_dir = (root() / m_plan.project).string();
    mine.install = m_transfer.install;
    mine.bytes_received = m_transfer.bytes_received;
    mine.local_files = m_transfer.local_files;
    mine.local_bytes = m_transfer.local_bytes;
    mine.install_seconds = m_transfer.install_seconds;
    return mine;
  }

  // Once-per-machine steps, in order; the first failure stops them, and
  // stops the other machines' steps too.
  void each_machine() {
    m_agree.stoppable_gather(0, [&](cluster::StopNotices& notices) {
      observe("each-machine");
      if (!leader())
        return std::string();
      std::vector<std::string> steps;
      if (m_o.instantiate)
        steps.push_back("julia --project=\"$DISTENV_PROJECT\" -e 'using Pkg; Pkg.instantiate()'");
      steps.insert(steps.end(), m_meta.each_machine.begin(), m_meta.each_machine.end());
      steps.insert(steps.end(), m_o.each_machine.begin(), m_o.each_machine.end());
      const auto env = activation(std::nullopt);
      for (const std::string& step : steps) {
        const workers::Supervised r = m_ctx.runner.run(
            {{{"sh", "-c", step}, env, root() / m_meta.project, m_ctx.host + ":each-machine"}},
            supervise_options(notices));
        if (r.interrupted_by)
          throw Error(fmt::format("interrupted by signal {} during each-machine command '{}'", r.interrupted_by,
                                  step),
                      128 + r.interrupted_by);
        if (r.stopped)
          break; // another machine failed: it says why
        if (r.exits[0].status() != 0)
          throw Error(fmt::format("each-machine command '{}' {}", step, r.exits[0].describe()));
      }
      return std::string();
    });
  }

  // --workers auto: the CPUs SLURM allocated on this node, else the machine's
  // hardware threads (not the rank's CPU binding, which mpirun may have narrowed).
  int auto_workers() const {
    if (const int cpus = std::atoi(workers::env_value(m_ctx.environment, "SLURM_CPUS_ON_NODE").c_str()); cpus > 0)
      return cpus;
    return static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  }

  std::vector<std::string> command() const { return m_o.command.empty() ? m_meta.command : m_o.command; }

  void number_workers() {
    // Rank 0 leads machine 0 and has read the metadata, so it knows for all
    // whether there is a command; the other leaders have read the same file.
    if (leader() && !command().empty())
      m_local = m_o.workers > 0 ? m_o.workers : auto_workers();
    const std::vector<std::string> counts = m_agree.all_gather([&] { return std::to_string(m_local); });
    for (int r = 0; r < m_ctx.world.size(); ++r) {
      const int n = std::stoi(counts[static_cast<size_t>(r)]);
      if (r < m_ctx.world.rank())
        m_first += n;
      m_total += n;
    }
  }

  std::vector<std::string> run_workers() {
    return m_agree.stoppable_gather(0, [&](cluster::StopNotices& notices) {
      observe("workers");
      if (!leader())
        return std::string();
      report::MachineResult mine = machine_result();
      mine.phase_seconds = m_phases;
      if (m_local > 0) {
        workers::Supervised s;
        try {
          s = m_ctx.runner.run(worker_specs(), supervise_options(notices));
        } catch (const std::exception& e) { // fork or pipe failed: no worker ran here
          for (int i = 0; i < m_local; ++i)
            mine.workers.push_back({m_first + i, 127, fmt::format("could not be started: {}", e.what())});
        }
        if (s.interrupted_by)
          throw Error(fmt::format("interrupted by signal {} ({})", s.interrupted_by, strsignal(s.interrupted_by)),
                      128 + s.interrupted_by);
        for (size_t i = 0; i < s.exits.size(); ++i)
          mine.workers.push_back({m_first + static_cast<int>(i), s.exits[i].status(), s.exits[i].describe()});
      }
      struct rusage usage {};
      ::getrusage(RUSAGE_SELF, &usage);
      mine.peak_rss_kib = static_cast<uint64_t>(usage.ru_maxrss);
      return transport::encode(mine);
    });
  }

  // The job as rank 0 reports it, from every machine's encoded result.
  report::JobReport job_report(const std::vector<std::string>& results) const {
    report::JobReport job;
    job.tree_hash = m_plan.tree_hash.hex();
    job.machines = m_machines.count();
    job.ranks = m_ctx.world.size();
    job.archive_bytes = m_transfer.archive_bytes;
    job.plan_bytes = m_plan_size;
    job.algorithm = m_transfer.algorithm;
    job.chunk_bytes = m_transfer.chunk_bytes;
    job.receivers = m_transfer.receivers;
    job.hashed_files = m_prepared ? m_prepared->hashed_files : 0;
    job.cached_files = m_prepared ? m_prepared->cached_files : 0;
    job.transfer_seconds = m_transfer.seconds;
    job.phase_seconds = m_phases;
    job.command = command();
    for (const std::string& r : results)
      if (!r.empty())
        job.results.push_back(transport::decode<report::MachineResult>(r));
    job.wall_seconds = seconds_since(m_start);
    return job;
  }

  int report(const std::vector<std::string>& results) {
    int exit_code = 0;
    m_agree.phase([&] {
      observe("report");
      if (!m_root)
        return;
      const report::JobReport job = job_report(results);
      if (!m_o.quiet)
        m_ctx.out << job.workers_summary(m_o.verbose) << std::flush;
      for (const std::string& f : job.failures())
        m_ctx.err << error_prefix() + f + "\n";
      m_ctx.err << std::flush;
      write_report(m_o.report, job.json());
      exit_code = job.exit_code();
    });
    return std::stoi(m_ctx.world.broadcast(std::to_string(exit_code), 0));
  }

  fs::path root() const { return m_store.path_of(m_plan.tree_hash); }

  std::vector<std::string> activation(const std::optional<workers::WorkerPlace>& place) const {
    return workers::activation_environment(m_ctx.environment, m_meta, root(), self(), m_machines.count(), place);
  }

  std::vector<workers::Spec> worker_specs() const {
    std::vector<workers::Spec> specs;
    for (int i = 0; i < m_local; ++i) {
      const workers::WorkerPlace place{self(), m_machines.count(), m_first + i, m_total, i, m_local};
      specs.push_back({command(), activation(place), root() / m_meta.project, fmt::format("{}:{}", m_ctx.host, m_first + i)});
    }
    return specs;
  }

  workers::SuperviseOptions supervise_options(cluster::StopNotices& notices) const {
    workers::SuperviseOptions so;
    so.grace_seconds = m_o.grace_seconds;
    so.should_stop = [&notices] { return notices.requested(); };
    return so;
  }

  const cli::Options& m_o;
  JobContext& m_ctx;
  cluster::Agreement m_agree;
  install::Store m_store;
  const bool m_root;
  const clock::time_point m_start = clock::now();
  clock::time_point m_phase_start = m_start;
  std::vector<std::pair<std::string, double>> m_phases;
  cluster::Machines m_machines;
  std::optional<Prepared> m_prepared; // rank 0
  std::string m_plan_bytes;
  uint64_t m_plan_size = 0; // bytes of the plan every rank received
  cluster::JobPlan m_plan;
  std::vector<cluster::StoreState> m_states; // by machine
  std::unique_ptr<install::LocalContents> m_here; // receivers: contents already here
  std::unordered_set<hash::Hash128> m_everyone_has; // rank 0: contents sent by reference
  Transfer m_transfer;
  std::shared_ptr<install::Store::InUse> m_in_use; // --gc leaves it alone while we run
  layout::Metadata m_meta;
  int m_local = 0, m_first = 0, m_total = 0; // workers here, first global id, all
};

} // namespace

int run_job(const cli::Options& o, JobContext& ctx) {
  try {
    Job job(o, ctx);
    return job.run();
  } catch (const cluster::PhaseFailed& f) {
    if (ctx.world.rank() == 0) {
      for (const std::string& line : f.lines())
        // One write per line: a launcher that forwards stdout and stderr
        // separately (SLURM) may interleave them, but never within a write.
        ctx.err << error_prefix() + line + "\n";
      ctx.err << std::flush;
    }
    return f.exit_code();
  } catch (const transport::CommError& e) {
    ctx.err << fmt::format("{}{}: {}; ending the job\n", error_prefix(), ctx.host, e.what()) << std::flush;
    ctx.world.abort(1);
  } catch (const std::exception& e) { // outside every phase: the others cannot learn of it
    ctx.err << fmt::format("{}{}: {}; ending the job\n", error_prefix(), ctx.host, e.what()) << std::flush;
    ctx.world.abort(1);
  }
  return 1; // not reached: abort() does not return
}

int run_gc(const cli::Options& o, transport::Comm& world, const std::string& host) {
  const cluster::Machines machines = cluster::discover_machines(world, host);
  std::string line;
  if (machines.leader) {
    try {
      install::Store store = store_for(o);
      auto c = store.collect(static_cast<size_t>(o.gc_keep), o.gc_dry_run);
      line = fmt::format("{}: {} {} ({}), kept {}, in use {}", host, o.gc_dry_run ? "would remove" : "removed",
                         c.removed.size(), human_bytes(c.bytes_freed), c.kept.size(), c.busy.size());
      for (size_t i = 0; i < c.removed.size(); ++i) {
        char used[32] = "";
        struct tm tm {};
        if (::localtime_r(&c.removed_used[i], &tm))
          std::strftime(used, sizeof used, "%Y-%m-%d %H:%M", &tm);
        line += fmt::format("\n  {}  last used {}", c.removed[i], used);
      }
    } catch (const std::exception& e) {
      line = fmt::format("{}: gc failed: {}", host, e.what());
    }
  }
  const std::vector<std::string> all = world.gather(line, 0);
  for (const std::string& l : all)
    if (!l.empty())
      std::printf("distenv: gc%s %s\n", o.gc_dry_run ? " (dry run)" : "", l.c_str());
  return 0;
}

int run_status(const cli::Options& o, transport::Comm& world, const std::string& host) {
  const cluster::Machines machines = cluster::discover_machines(world, host);
  // The runtime to look for: the environment's, when there is one to read;
  // else each machine reports the runtimes its installed environments need.
  std::string runtime, hint;
  if (world.rank() == 0) {
    try {
      env::ReadOptions read;
      read.project_dir = o.project;
      env::Environment e = env::read_environment(read);
      runtime = e.activation.runtime;
      hint = e.activation.runtime_hint;
    } catch (const Error&) {
    }
  }
  runtime = world.broadcast(runtime, 0);
  hint = world.broadcast(hint, 0);
  std::string mine;
  if (machines.leader) {
    cluster::MachineStatus s = cluster::collect_status(o.dest, runtime, hint);
    s.host = host;
    s.ranks = machines.mine().ranks;
    mine = s.encode();
  }
  const std::vector<std::string> all = world.gather(mine, 0);
  if (world.rank() == 0) {
    std::vector<cluster::MachineStatus> rows;
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const std::string& text : all)
      if (!text.empty()) {
        rows.push_back(cluster::MachineStatus::decode(text));
        j.push_back(rows.back().json());
      }
    std::fputs(cluster::status_table(rows).c_str(), stdout);
    std::fflush(stdout);
    write_report(o.report, j);
  }
  return 0;
}

} // namespace distenv
