// The job across machines, one call per stage (see docs/ARCHITECTURE.md).
#include <distenv/job.hpp>

#include <distenv/cluster/agreement.hpp>
#include <distenv/cluster/machines.hpp>
#include <distenv/cluster/plan.hpp>
#include <distenv/cluster/status.hpp>
#include <distenv/install/async_install.hpp>
#include <distenv/install/store.hpp>
#include <distenv/layout/metadata.hpp>
#include <distenv/pack/async_pack.hpp>
#include <distenv/pipeline.hpp>
#include <distenv/report/job_report.hpp>
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/units.hpp>
#include <distenv/workers/activation.hpp>
#include <distenv/workers/supervisor.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/environment.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sys/resource.h>
#include <unistd.h>

namespace distenv {

namespace {

// ---- The job: one rank per machine under mpirun (or a singleton). ----

constexpr size_t k_depth = 3; // chunks in flight per stage: memory is a few chunks

struct JobState {
  boost::mpi::communicator& world;
  cluster::Machines machines;
  std::string host = machine_name();
  bool root = false;
};

// Rank 0 reads the environment; every rank gets the plan.
cluster::JobPlan read_and_share(const cli::Options& o, JobState& s, std::optional<Prepared>& prepared) {
  std::string encoded;
  cluster::phase(s.world, s.host, [&] {
    if (s.root) {
      prepared = prepare(o);
      encoded = cluster::JobPlan::from_tree(prepared->tree, prepared->layout.project).encode();
    }
  });
  boost::mpi::broadcast(s.world, encoded, 0);
  return cluster::JobPlan::decode(encoded);
}

// Each machine looks at its store; everyone learns who must receive.
std::vector<cluster::StoreState> check_stores(JobState& s, const cluster::JobPlan& plan, install::Store& store) {
  std::string mine;
  cluster::phase(s.world, s.host, [&] {
    if (!s.machines.leader)
      return;
    cluster::StoreState st;
    st.store_id = store.identity();
    st.has = store.has(plan.tree_hash);
    if (!st.has)
      install::check_free_space(store.envs_dir(), plan.disk_estimate(store.block_size()));
    mine = fmt::format("{} {}", st.has ? 1 : 0, st.store_id);
  });
  std::vector<std::string> all;
  boost::mpi::all_gather(s.world, mine, all);
  std::vector<cluster::StoreState> states(static_cast<size_t>(s.machines.count()));
  for (size_t m = 0; m < states.size(); ++m) {
    const std::string& line = all[static_cast<size_t>(s.machines.all[m].leader)];
    states[m].has = line.rfind("1 ", 0) == 0;
    states[m].store_id = line.substr(2);
  }
  return states;
}

struct Transfer {
  std::string install = "reused"; // this machine: received / reused / shared
  uint64_t bytes_received = 0;
  double install_seconds = 0;
  uint64_t archive_bytes = 0; // rank 0: stream size
  double seconds = 0;
  std::string algorithm;
  int receivers = 0;
};

// The pipelined broadcast from rank 0 to the receiving machines, each of
// which installs while the stream passes through.
Transfer transfer(const cli::Options& o, JobState& s, const cluster::JobPlan& plan, install::Store& store,
                  const std::vector<cluster::StoreState>& states, const std::optional<Prepared>& prepared) {
  Transfer t;
  const std::vector<int> receivers = cluster::choose_receivers(states);
  t.receivers = static_cast<int>(receivers.size());
  const bool receiving = s.machines.leader && std::find(receivers.begin(), receivers.end(), s.machines.self) != receivers.end();
  if (!states[static_cast<size_t>(s.machines.self)].has && !receiving)
    t.install = "shared";
  const bool participant = s.root || receiving;
  // Every rank takes part in the split; only participants use the result.
  boost::mpi::communicator group = s.world.split(participant ? 0 : 1);
  if (receivers.empty() || !participant)
    return t;
  const int size = group.size();
  // The archive's size is known only once packed: the content size stands in
  // for it, which keeps the chain a little longer than the model would.
  const int fanout = o.fanout ? o.fanout : transport::choose_fanout(size, plan.bytes, o.chunk_size);
  t.algorithm = transport::fanout_name(fanout);
  const transport::Links links = transport::tree_links(group.rank(), size, 0, fanout);
  const auto start = std::chrono::steady_clock::now();

  std::optional<install::AsyncInstall> installer;
  if (receiving)
    installer.emplace(store, plan.tree_hash, plan.disk_estimate(store.block_size()), k_depth);
  try {
    if (s.root) {
      pack::AsyncPack packer(prepared->tree, {o.chunk_size, o.zstd_level, o.zstd_threads}, k_depth);
      auto r = transport::broadcast_chunks(group, links, o.chunk_size, static_cast<int>(k_depth), &packer.source(),
                                           installer ? &installer->sink() : nullptr);
      t.archive_bytes = r.bytes;
      packer.finish();
    } else {
      auto r = transport::broadcast_chunks(group, links, o.chunk_size, static_cast<int>(k_depth), nullptr,
                                           &installer->sink());
      t.bytes_received = r.bytes;
      if (!r.complete) {
        installer->abort("the sender stopped the stream");
        try {
          installer->finish();
        } catch (...) {
        }
        installer.reset();
        return t; // rank 0 says why
      }
    }
    if (installer) {
      auto r = installer->finish();
      installer.reset();
      t.install = r.reused ? "reused" : "received";
      t.install_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (s.root)
        t.bytes_received = r.reused ? 0 : t.archive_bytes;
    }
  } catch (...) {
    if (installer) {
      installer->abort("install abandoned");
      try {
        installer->finish();
      } catch (...) {
      }
    }
    throw;
  }
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

// --workers auto: the CPUs SLURM allocated on this node, else the machine's
// hardware threads (not the rank's CPU binding, which mpirun may have narrowed).
int auto_workers() {
  if (const char* cpus = std::getenv("SLURM_CPUS_ON_NODE"); cpus && std::atoi(cpus) > 0)
    return std::atoi(cpus);
  return static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
}

std::vector<workers::Spec> worker_specs(const cli::Options& o, const JobState& s, const layout::Metadata& meta,
                                        const fs::path& root, int first, int local, int total) {
  std::vector<std::string> command = o.command.empty() ? meta.command : o.command;
  std::vector<workers::Spec> specs;
  const auto inherited = workers::current_environment();
  for (int i = 0; i < local; ++i) {
    workers::WorkerPlace place{s.machines.self, s.machines.count(), first + i, total, i, local};
    specs.push_back({command,
                     workers::activation_environment(inherited, meta, root, s.machines.self, s.machines.count(), place),
                     root / meta.project, fmt::format("{}:{}", s.host, first + i)});
  }
  return specs;
}

// Once-per-machine steps, in order; the first failure stops them.
void each_machine(const cli::Options& o, const JobState& s, const layout::Metadata& meta, const fs::path& root) {
  std::vector<std::string> steps;
  if (o.instantiate)
    steps.push_back("julia --project=\"$DISTENV_PROJECT\" -e 'using Pkg; Pkg.instantiate()'");
  steps.insert(steps.end(), meta.each_machine.begin(), meta.each_machine.end());
  steps.insert(steps.end(), o.each_machine.begin(), o.each_machine.end());
  const auto env = workers::activation_environment(workers::current_environment(), meta, root, s.machines.self,
                                                   s.machines.count(), std::nullopt);
  for (const std::string& step : steps) {
    auto r = workers::supervise({{{"sh", "-c", step}, env, root / meta.project, s.host + ":each-machine"}},
                                {o.grace_seconds, 1, 2});
    if (r.interrupted_by)
      throw Error(fmt::format("interrupted by signal {} during each-machine command '{}'", r.interrupted_by, step),
                  128 + r.interrupted_by);
    if (r.exits[0].status() != 0)
      throw Error(fmt::format("each-machine command '{}' {}", step, r.exits[0].describe()));
  }
}

void check_runtime(const layout::Metadata& meta, const JobState& s, const fs::path& root) {
  if (meta.runtime.empty())
    return;
  const auto env = workers::activation_environment(workers::current_environment(), meta, root, s.machines.self,
                                                   s.machines.count(), std::nullopt);
  if (find_program(meta.runtime, workers::env_value(env, "PATH")).empty())
    throw Error(fmt::format("runtime '{}' not found on PATH{}{}", meta.runtime, meta.runtime_hint.empty() ? "" : "; ",
                            meta.runtime_hint));
}

} // namespace

int run_job(const cli::Options& o, int argc, const char* const* argv) {
  const auto start = std::chrono::steady_clock::now();
  int mpi_argc = argc;
  char** mpi_argv = const_cast<char**>(argv);
  boost::mpi::environment mpi(mpi_argc, mpi_argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  JobState s{world, cluster::discover_machines(world)};
  s.root = world.rank() == 0;
  try {
    // read: rank 0 reads the environment and shares the plan
    std::optional<Prepared> prepared;
    const cluster::JobPlan plan = read_and_share(o, s, prepared);

    // agree: every machine checks its store; who receives is decided
    install::Store store(o.dest);
    const auto states = check_stores(s, plan, store);

    // pack / broadcast / install: only to machines that lack the environment
    Transfer t;
    cluster::phase(world, s.host, [&] { t = transfer(o, s, plan, store, states, prepared); });

    // activate: every machine reads the installed tree's metadata and checks the runtime
    const fs::path root = store.path_of(plan.tree_hash);
    layout::Metadata meta;
    std::optional<install::Store::InUse> in_use; // --gc leaves it alone while we run
    cluster::phase(world, s.host, [&] {
      if (!s.machines.leader)
        return;
      if (!store.has(plan.tree_hash))
        throw Error(fmt::format("the environment is not in {} after the install", store.envs_dir().string()));
      in_use.emplace(store, plan.tree_hash);
      meta = layout::metadata_from_json(read_file(root / layout::k_metadata_path),
                                        (root / layout::k_metadata_path).string());
      check_runtime(meta, s, root);
    });

    // each-machine: once per machine, before any worker starts
    cluster::phase(world, s.host, [&] {
      if (s.machines.leader)
        each_machine(o, s, meta, root);
    });

    // workers: one per hardware thread (or --workers) on every machine
    // (only rank 0's machine is sure to have read the metadata: ask everyone)
    const int run_workers = !o.command.empty() || (s.machines.leader && !meta.command.empty()) ? 1 : 0;
    int wants_workers = 0;
    MPI_Allreduce(&run_workers, &wants_workers, 1, MPI_INT, MPI_MAX, world);
    int local = 0;
    if (wants_workers && s.machines.leader)
      local = o.workers > 0 ? o.workers : auto_workers();
    std::vector<int> counts;
    boost::mpi::all_gather(world, local, counts);
    int first = 0, total = 0;
    for (int r = 0; r < world.size(); ++r) {
      if (r < world.rank())
        first += counts[static_cast<size_t>(r)];
      total += counts[static_cast<size_t>(r)];
    }
    report::MachineResult mine;
    mine.host = s.host;
    mine.machine = s.machines.self;
    mine.ranks = s.machines.mine().ranks;
    mine.install_dir = root.string();
    mine.project_dir = (root / plan.project).string();
    mine.install = t.install;
    mine.bytes_received = t.bytes_received;
    mine.install_seconds = t.install_seconds;
    int interrupted = 0;
    if (local > 0) {
      try {
        auto supervised = workers::supervise(worker_specs(o, s, meta, root, first, local, total),
                                             {o.grace_seconds, 1, 2});
        interrupted = supervised.interrupted_by;
        for (size_t i = 0; i < supervised.exits.size(); ++i)
          mine.workers.push_back({first + static_cast<int>(i), supervised.exits[i].status(),
                                  supervised.exits[i].describe()});
      } catch (const std::exception& e) { // fork or pipe failed: no worker ran here
        for (int i = 0; i < local; ++i)
          mine.workers.push_back({first + i, 127, fmt::format("could not be started: {}", e.what())});
      }
    }
    if (interrupted) // the job is being torn down: no more collectives
      return 128 + interrupted;

    // report: rank 0 gathers every machine's result
    struct rusage usage {};
    ::getrusage(RUSAGE_SELF, &usage);
    mine.peak_rss_kib = static_cast<uint64_t>(usage.ru_maxrss);
    std::vector<std::string> results;
    boost::mpi::gather(world, s.machines.leader ? mine.encode() : std::string(), results, 0);
    int exit_code = 0;
    if (s.root) {
      report::JobReport job;
      job.tree_hash = plan.tree_hash.hex();
      job.machines = s.machines.count();
      job.ranks = world.size();
      job.archive_bytes = t.archive_bytes;
      job.algorithm = t.algorithm;
      job.receivers = t.receivers;
      job.transfer_seconds = t.seconds;
      job.command = o.command.empty() ? meta.command : o.command;
      if (!wants_workers)
        job.command.clear();
      for (const std::string& r : results)
        if (!r.empty())
          job.results.push_back(report::MachineResult::decode(r));
      job.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fputs(job.summary().c_str(), stdout);
      std::fflush(stdout);
      for (const std::string& f : job.failures())
        std::fprintf(stderr, "distenv: error: %s\n", f.c_str());
      write_report(o.report, job.json());
      exit_code = job.exit_code();
    }
    boost::mpi::broadcast(world, exit_code, 0);
    return exit_code;
  } catch (const cluster::PhaseFailed& f) {
    if (s.root) {
      for (const std::string& line : f.lines())
        std::fprintf(stderr, "distenv: error: %s\n", line.c_str());
      std::fflush(stderr);
    }
    return f.exit_code();
  }
}

int run_gc(const cli::Options& o, int argc, const char* const* argv) {
  int mpi_argc = argc;
  char** mpi_argv = const_cast<char**>(argv);
  boost::mpi::environment mpi(mpi_argc, mpi_argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  const cluster::Machines machines = cluster::discover_machines(world);
  std::string line;
  try {
    if (machines.leader) {
      install::Store store(o.dest);
      auto c = store.collect(static_cast<size_t>(o.gc_keep));
      line = fmt::format("{}: removed {} ({}), kept {}, in use {}", machines.mine().host, c.removed.size(),
                         human_bytes(c.bytes_freed), c.kept.size(), c.busy.size());
    }
  } catch (const std::exception& e) {
    line = fmt::format("{}: gc failed: {}", machines.mine().host, e.what());
  }
  std::vector<std::string> all;
  boost::mpi::gather(world, line, all, 0);
  if (world.rank() == 0)
    for (const std::string& l : all)
      if (!l.empty())
        std::printf("distenv: gc %s\n", l.c_str());
  return 0;
}

int run_status(const cli::Options& o, int argc, const char* const* argv) {
  int mpi_argc = argc;
  char** mpi_argv = const_cast<char**>(argv);
  boost::mpi::environment mpi(mpi_argc, mpi_argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  const cluster::Machines machines = cluster::discover_machines(world);
  // The runtime to look for: the environment's, when there is one to read.
  std::string runtime = "julia", hint;
  if (world.rank() == 0) {
    try {
      env::ReadOptions read;
      read.project_dir = o.project;
      env::Environment e = env::read_environment(read);
      runtime = e.activation.runtime;
      hint = e.activation.runtime_hint;
    } catch (const Error&) {
      hint = "install Julia with juliaup (https://julialang.org/install/) and put `julia` on PATH";
    }
  }
  boost::mpi::broadcast(world, runtime, 0);
  boost::mpi::broadcast(world, hint, 0);
  std::string mine;
  if (machines.leader) {
    cluster::MachineStatus s = cluster::collect_status(o.dest, runtime, hint);
    s.ranks = machines.mine().ranks;
    mine = s.encode();
  }
  std::vector<std::string> all;
  boost::mpi::gather(world, mine, all, 0);
  if (world.rank() == 0) {
    std::vector<cluster::MachineStatus> rows;
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const std::string& text : all)
      if (!text.empty()) {
        rows.push_back(cluster::MachineStatus::decode(text));
        j.push_back(nlohmann::ordered_json::parse(text));
      }
    std::fputs(cluster::status_table(rows).c_str(), stdout);
    std::fflush(stdout);
    write_report(o.report, j);
  }
  return 0;
}

} // namespace distenv
