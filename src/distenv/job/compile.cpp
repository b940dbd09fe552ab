// Phase compile: Julia's caches made once per compile class and sent to the
// class's other machines, then every machine's proof that loading needs no
// compiling.
#include <distenv/job/compile.hpp>

#include <distenv/job/each_machine.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/units.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <unistd.h>

namespace distenv::job {

bool compiles(const cli::Options& o) {
  return o.precompile || o.instantiate;
}
bool checks_loading(const cli::Options& o) {
  return compiles(o) || o.offline;
}

std::vector<CompileClass> compile_classes(const std::vector<std::string>& classes,
                                          const std::vector<std::string>& stores) {
  std::vector<CompileClass> out;
  std::vector<std::vector<std::string>> stores_of; // per class: the stores that have (or get) its caches
  for (size_t m = 0; m < classes.size(); ++m) {
    if (classes[m].empty())
      continue;
    auto it =
        std::find_if(out.begin(), out.end(), [&](const CompileClass& c) { return c.name == classes[m]; });
    const int machine = static_cast<int>(m);
    if (it == out.end()) {
      out.push_back({classes[m], machine, {machine}, {}});
      stores_of.push_back({stores[m]});
      continue;
    }
    it->machines.push_back(machine);
    std::vector<std::string>& seen = stores_of[static_cast<size_t>(it - out.begin())];
    if (std::find(seen.begin(), seen.end(), stores[m]) == seen.end()) {
      seen.push_back(stores[m]);
      it->receivers.push_back(machine);
    }
  }
  return out;
}

namespace {

// Can every package of the active project's manifest load here without
// downloading or compiling? One line per package that cannot, written to
// ARGS[1]: "missing|stale <tab> name <tab> uuid". As Pkg.precompile and
// Base.require decide it: Base.locate_package (a depot on the path, or a
// dev path), then a cache that Base.stale_cachefile accepts.
constexpr const char* k_check_jl = R"jl(const out = ARGS[1]
const Pkg = Base.require(Base.PkgId(Base.UUID("44cfe95a-1eb2-52ea-b672-e2afdf69b78f"), "Pkg"))
problems = String[]
manifest = Base.project_file_manifest_path(Base.active_project())
if manifest !== nothing
    m = Pkg.TOML.parsefile(manifest)
    deps = haskey(m, "manifest_format") ? get(m, "deps", Dict()) : m
    for (name, entries) in deps, e in entries
        pkg = Base.PkgId(Base.UUID(e["uuid"]), name)
        Base.root_module_exists(pkg) && continue
        src = Base.locate_package(pkg)
        if src === nothing
            push!(problems, "missing\t$name\t$(pkg.uuid)")
            continue
        end
        occursin(r"\b__precompile__\(\s*false\s*\)", read(src, String)) && continue
        any(p -> Base.stale_cachefile(src, p) !== true, Base.find_all_in_cache_path(pkg)) ||
            push!(problems, "stale\t$name\t$(pkg.uuid)")
    end
end
open(io -> foreach(l -> println(io, l), problems), out, "w")
exit(isempty(problems) ? 0 : 1)
)jl";

workers::Supervised run_julia(Session& s, const Installed& in, cluster::StopNotices& notices,
                              const std::string& what, const std::string& code,
                              const std::vector<std::string>& args = {},
                              const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> argv{
      in.julia, "--startup-file=no", "--history-file=no", "--project=" + in.project_dir().string(), "-e",
      code};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env = in.activation(s, std::nullopt);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  const workers::Supervised r = s.ctx.runner.run({{argv, env, in.project_dir(), s.ctx.host + ":" + what}},
                                                 supervise_options(s, notices));
  if (r.interrupted_by)
    throw Error(fmt::format("{} during {}", r.interruption(), what), 128 + r.interrupted_by);
  return r;
}

// Runs `code`; false when another machine has failed meanwhile.
bool step(Session& s, const Installed& in, cluster::StopNotices& notices, const std::string& what,
          const std::string& code, const std::vector<std::string>& extra_env = {}) {
  const workers::Supervised r = run_julia(s, in, notices, what, code, {}, extra_env);
  if (r.stopped)
    return false;
  if (r.exits[0].status() != 0)
    throw Error(fmt::format("{} ({}) {}", what, code, r.exits[0].describe()));
  return true;
}

// What the check found, as one line: the first few packages named.
std::string check_failure(const std::string& found, const Installed& in) {
  std::vector<std::string> missing, stale;
  std::istringstream lines(found);
  for (std::string line; std::getline(lines, line);) {
    const size_t a = line.find('\t'), b = line.find('\t', a + 1);
    if (a == std::string::npos || b == std::string::npos)
      continue;
    const std::string pkg = fmt::format("{} ({})", line.substr(a + 1, b - a - 1), line.substr(b + 1));
    (line.rfind("missing", 0) == 0 ? missing : stale).push_back(pkg);
  }
  const auto named = [](const std::vector<std::string>& v) {
    std::string s = v[0];
    if (v.size() > 1)
      s += fmt::format(" and {} more", v.size() - 1);
    return s;
  };
  if (!missing.empty())
    return fmt::format("{} cannot load: in no depot on JULIA_DEPOT_PATH={} (it would need downloading)",
                       named(missing), in.julia_depot_path);
  if (!stale.empty())
    return fmt::format("{} would compile when loaded: no valid cache in {}/compiled; run the job with "
                       "--precompile",
                       named(stale), in.julia_depot_path.substr(0, in.julia_depot_path.find(':')));
  return "the loading check failed";
}

// This machine proves loading needs no network or compiling.
void check_loading(Session& s, const Installed& in, cluster::StopNotices& notices) {
  const fs::path out = s.store.julia_dir() / in.julia_class / fmt::format(".check-{}", ::getpid());
  const workers::Supervised r = run_julia(s, in, notices, "check", k_check_jl, {out.string()});
  std::string found;
  boost::system::error_code ec;
  if (fs::exists(out, ec)) {
    found = read_file(out, uint64_t(16) << 20);
    fs::remove(out, ec);
  }
  if (r.stopped || (r.exits[0].status() == 0 && found.empty()))
    return;
  if (found.empty())
    throw Error(fmt::format("the loading check ({} -e ...) {}", in.julia, r.exits[0].describe()));
  throw Error(check_failure(found, in));
}

// Every machine's class (leaders; "" for the others), by machine.
std::vector<CompileClass> classes_of(Session& s, const Installed& in) {
  const std::vector<std::string> all = s.agree.all_gather([&] {
    s.observe(Phase::compile);
    if (!s.leader())
      return std::string();
    if (in.meta.runtime != "julia")
      throw Error(
          fmt::format("--precompile, --instantiate and --offline are for Julia environments; this one "
                      "runs {}",
                      in.meta.runtime.empty() ? "no runtime" : "'" + in.meta.runtime + "'"),
          2);
    return in.julia_class + "\n" + s.store.identity();
  });
  std::vector<std::string> classes, stores;
  for (const cluster::Machine& m : s.machines.all) {
    const std::string& mine = all[static_cast<size_t>(m.leader)];
    classes.push_back(mine.substr(0, mine.find('\n')));
    stores.push_back(mine.substr(mine.find('\n') + 1));
  }
  return compile_classes(classes, stores);
}

} // namespace

std::vector<ClassReport> compile(Session& s, const Read& r, const Installed& in) {
  if (!checks_loading(s.options))
    return {};
  const std::vector<CompileClass> classes = classes_of(s, in);
  const CompileClass* mine = nullptr;
  for (const CompileClass& c : classes)
    if (std::count(c.machines.begin(), c.machines.end(), s.self()))
      mine = &c;
  const bool compiler = s.leader() && mine && mine->compiler == s.self();
  const bool receiver =
      s.leader() && mine && std::count(mine->receivers.begin(), mine->receivers.end(), s.self()) > 0;
  // Instantiate where it must, and compile on one machine per class.
  const std::vector<std::string> seconds = s.agree.stoppable_gather(0, [&](cluster::StopNotices& notices) {
    if (!s.leader())
      return std::string();
    if (s.options.instantiate && !r.depot &&
        !step(s, in, notices, "instantiate", "import Pkg; Pkg.instantiate()",
              {"JULIA_PKG_PRECOMPILE_AUTO=0"}))
      return std::string();
    if (!compiler || !compiles(s.options))
      return std::string();
    const auto start = Clock::now();
    if (!step(s, in, notices, "compile",
              s.options.instantiate && r.depot ? "import Pkg; Pkg.instantiate(); Pkg.precompile()"
                                               : "import Pkg; Pkg.precompile()"))
      return std::string();
    return fmt::format("{}", seconds_since(start));
  });
  // Each class's caches from its compiler to its receivers, every class at once.
  std::vector<ClassReport> reports(classes.size());
  if (compiles(s.options)) {
    std::unique_ptr<transport::Comm> group = s.ctx.world.split(
        (compiler || receiver) && !mine->receivers.empty() ? int(mine - classes.data()) : -1);
    s.agree.phase([&] {
      if (!group)
        return;
      std::exception_ptr failure;
      stream_caches(s, *group, in.julia_class, failure, reports[size_t(mine - classes.data())]);
      if (failure)
        std::rethrow_exception(failure);
    });
    const std::vector<std::string> sent = s.agree.gather(0, [&] {
      if (!compiler)
        return std::string();
      const ClassReport& c = reports[size_t(mine - classes.data())];
      return fmt::format("{} {} {} {}", c.files, c.bytes, c.archive_bytes, c.receivers);
    });
    for (size_t i = 0; s.root() && i < classes.size(); ++i) {
      const int leader = s.machines.all[size_t(classes[i].compiler)].leader;
      ClassReport& c = reports[i];
      c.name = classes[i].name;
      c.compiler = s.machines.all[size_t(classes[i].compiler)].host;
      c.machines = int(classes[i].machines.size());
      std::istringstream(sent[size_t(leader)]) >> c.files >> c.bytes >> c.archive_bytes >> c.receivers;
      if (!seconds[size_t(leader)].empty())
        c.compile_seconds = std::stod(seconds[size_t(leader)]);
    }
    if (s.root() && !s.options.quiet) {
      report::JobReport said;
      said.compiled = reports;
      s.ctx.out << said.compiled_summary() << std::flush;
    }
  }
  // Every machine proves its workers will neither download nor compile.
  s.agree.stoppable_gather(0, [&](cluster::StopNotices& notices) {
    if (s.leader())
      check_loading(s, in, notices);
    return std::string();
  });
  s.lap(Phase::compile);
  if (!compiles(s.options))
    reports.clear();
  return reports;
}

} // namespace distenv::job
