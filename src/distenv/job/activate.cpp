// Phase activate: the installed environment checked on every machine.
#include <distenv/job/activate.hpp>

#include <distenv/env/julia_class.hpp>
#include <distenv/job/compile.hpp>
#include <distenv/transport/codec.hpp>
#include <distenv/util/files.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace distenv::job {

std::vector<std::string> Installed::activation(const Session& s,
                                               const std::optional<workers::WorkerPlace>& place) const {
  std::vector<std::string> env =
      workers::activation_environment(s.ctx.environment, meta, root, s.self(), s.machines.count(), place);
  if (!julia_depot_path.empty()) {
    const std::string var = "JULIA_DEPOT_PATH=";
    std::erase_if(env, [&](const std::string& kv) { return kv.rfind(var, 0) == 0; });
    env.push_back(var + julia_depot_path);
  }
  if (!runtime_bin.empty()) {
    auto path =
        std::find_if(env.begin(), env.end(), [](const std::string& kv) { return kv.rfind("PATH=", 0) == 0; });
    if (path == env.end())
      env.push_back("PATH=" + runtime_bin);
    else
      *path = "PATH=" + runtime_bin + ":" + path->substr(5);
  }
  if (offline) {
    std::erase_if(env, [](const std::string& kv) { return kv.rfind("JULIA_PKG_OFFLINE=", 0) == 0; });
    env.push_back("JULIA_PKG_OFFLINE=true");
  }
  for (const auto& [name, value] :
       {std::pair{"DISTENV_OUTPUT=", output.string()}, {"DISTENV_JOB=", job_id}}) {
    std::erase_if(env, [name](const std::string& kv) { return kv.rfind(name, 0) == 0; });
    if (!value.empty())
      env.push_back(name + value);
  }
  return env;
}

report::JobReport job_report(const Session& s, const Read& r, const Transferred& t, const Transferred& depot,
                             const std::vector<std::string>& command,
                             const std::vector<report::JobReport::Compiled>& compiled) {
  report::JobReport job;
  job.compiled = compiled;
  job.tree_hash = r.plan.tree_hash.hex();
  job.machines = s.machines.count();
  job.ranks = s.ctx.world.size();
  job.archive_bytes = t.archive_bytes;
  job.plan_bytes = r.plan_bytes;
  job.algorithm = t.algorithm;
  job.chunk_bytes = t.chunk_bytes;
  job.receivers = t.receivers;
  job.hashed_files = r.prepared ? r.prepared->hashed_files : 0;
  job.cached_files = r.prepared ? r.prepared->cached_files : 0;
  job.transfer_seconds = t.seconds;
  job.phase_seconds = s.phase_seconds();
  job.command = command;
  if (r.depot) {
    report::JobReport::Depot& d = job.depot.emplace();
    d.dir = s.store.depot_dir().string();
    d.units = r.depot->units.size();
    d.runtime = std::any_of(r.depot->units.begin(), r.depot->units.end(),
                            [](const std::string& u) { return u.rfind("runtimes/", 0) == 0; });
    d.files = r.depot->files;
    d.bytes = r.depot->bytes;
    d.units_sent = depot.units_sent;
    d.archive_bytes = depot.archive_bytes;
    d.receivers = depot.receivers;
    d.seconds = depot.seconds;
  }
  job.wall_seconds = seconds_since(s.start);
  return job;
}

namespace {

report::MachineResult machine_result(const Session& s, const Installed& in, const Transferred& t) {
  report::MachineResult mine;
  mine.host = s.ctx.host;
  mine.machine = s.self();
  mine.ranks = s.machines.mine().ranks;
  mine.install_dir = in.root.string();
  mine.project_dir = in.project_dir().string();
  mine.install = t.install;
  mine.bytes_received = t.bytes_received;
  mine.local_files = t.local_files;
  mine.local_bytes = t.local_bytes;
  mine.kept_files = t.kept_files;
  mine.kept_bytes = t.kept_bytes;
  mine.repaired = t.repaired;
  mine.stream_waits = t.stream_waits;
  mine.install_seconds = t.install_seconds;
  return mine;
}

// Julia's own JULIA_DEPOT_PATH for what runs here, as base/initdefs.jl
// makes it when the variable is unset (~/.julia, then the installation's).
std::string inherited_depots(const std::vector<std::string>& env, const std::string& julia) {
  const std::string set = workers::env_value(env, "JULIA_DEPOT_PATH");
  if (!set.empty())
    return set;
  const fs::path bindir = fs::path(julia).parent_path();
  return fmt::format("{}/.julia:{}:{}", workers::env_value(env, "HOME"),
                     (bindir / ".." / "local" / "share" / "julia").lexically_normal().string(),
                     (bindir / ".." / "share" / "julia").lexically_normal().string());
}

void check_installed(Session& s, const hash::Hash128& tree, const std::optional<cluster::JobPlan>& r_depot,
                     Installed& in) {
  if (!s.store.has(tree))
    throw Error(fmt::format("the environment is not in {} after the install", s.store.envs_dir().string()));
  const fs::path file = in.root / layout::k_metadata_path;
  in.meta = layout::metadata_from_json(read_file(file, uint64_t(16) << 20, Follow::no), file.string());
  // Workers see the environment at the project's stable place.
  in.slot = std::make_shared<install::ProjectSlot>(s.store, in.meta.project, tree);
  in.root = in.slot->path();
  if (r_depot)
    for (const std::string& unit : r_depot->units) {
      if (!s.store.depot_has(unit))
        throw Error(fmt::format("{} is not in {} after the install", unit, s.store.depot_dir().string()));
      if (unit.rfind("runtimes/", 0) == 0)
        in.runtime_bin = (s.store.depot_dir() / unit / "bin").string();
    }
  if (in.meta.runtime.empty())
    return;
  const auto env = in.activation(s, std::nullopt);
  in.julia = find_program(in.meta.runtime, workers::env_value(env, "PATH"));
  if (in.julia.empty())
    throw Error(fmt::format("runtime '{}' not found on PATH{}{}", in.meta.runtime,
                            in.meta.runtime_hint.empty() ? "" : "; ", in.meta.runtime_hint));
  if (in.meta.runtime == "julia" && (r_depot || checks_loading(s.options))) {
    in.julia_class = s.ctx.julia_class ? s.ctx.julia_class(in.julia) : env::julia_class(in.julia);
    in.julia_depot_path = s.store.open_compiled(in.julia_class).string() + ":" +
                          (r_depot ? s.store.depot_dir().string() : inherited_depots(env, in.julia));
    in.offline = s.options.offline;
  }
}

} // namespace

Installed activate(Session& s, const Read& r, Transferred& t, const Transferred& depot,
                   const std::string& job_id) {
  Installed in;
  in.job_id = job_id;
  in.tree = r.plan.tree_hash;
  in.root = s.store.path_of(r.plan.tree_hash);
  in.in_use = t.in_use;
  const std::vector<std::string> installs = s.agree.gather(0, [&] {
    s.observe(Phase::activate);
    if (!s.leader())
      return std::string();
    check_installed(s, r.plan.tree_hash, r.depot, in);
    in.output = s.store.open_output(job_id, s.ctx.host);
    in.output_held = std::make_shared<Fd>(s.store.hold_output(in.output));
    if (!in.in_use) // a machine that shares a store another machine installed into
      in.in_use = std::make_shared<install::Store::InUse>(s.store, r.plan.tree_hash);
    in.mine = machine_result(s, in, t);
    return transport::encode(in.mine);
  });
  if (s.root() && !s.options.quiet) {
    report::JobReport job = job_report(s, r, t, depot, {});
    for (const std::string& bytes : installs)
      if (!bytes.empty())
        job.results.push_back(transport::decode<report::MachineResult>(bytes));
    s.ctx.out << job.install_summary() << std::flush;
  }
  s.lap(Phase::activate);
  return in;
}

} // namespace distenv::job
