// Rank 0's reading of the environment, shared by every mode.
#include <distenv/pipeline.hpp>

#include <distenv/env/julia_class.hpp>
#include <distenv/hash/git_tree.hpp>
#include <distenv/hash/hash_cache.hpp>
#include <distenv/report/plan_report.hpp>

#include <boost/filesystem/operations.hpp>
#include <distenv/util/command.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/json_text.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

namespace distenv {

namespace {

// The key of one unit's tree in the GitTreeCache: its entries as the
// depot tree has them (sorted), relative to the unit.
hash::Hash128 unit_key(const layout::Tree& tree, const std::string& unit) {
  std::vector<hash::TreeRecord> records;
  auto it = std::lower_bound(tree.entries.begin(), tree.entries.end(), unit,
                             [](const layout::FileEntry& e, const std::string& u) { return e.path < u; });
  for (; it != tree.entries.end(); ++it) {
    if (it->path != unit && it->path.compare(0, unit.size() + 1, unit + "/") != 0)
      break;
    hash::TreeRecord r = it->record();
    r.path = it->path.substr(unit.size());
    records.push_back(std::move(r));
  }
  return hash::tree_hash(std::move(records));
}

std::optional<PreparedDepot> prepare_depot(const cli::Options& o, const env::Environment& env,
                                           hash::HashCache& cache) {
  const bool ship_runtime = o.runtime == "ship";
  if (ship_runtime && env.kind != env::Kind::julia)
    throw InputError("--runtime ship ships a Julia installation; this environment is not a Julia project");
  const bool packages = o.depot != "none" && env.kind == env::Kind::julia && !env.registered.empty();
  if (!packages && !ship_runtime)
    return std::nullopt;
  PreparedDepot d;
  if (packages)
    d.closure = env::julia_closure(env, env::Platform::here());
  if (ship_runtime) {
    const char* path = std::getenv("PATH");
    const std::string julia = find_program("julia", path ? path : "");
    if (julia.empty())
      throw InputError("--runtime ship: no julia on PATH here to ship");
    d.closure.units.push_back(env::runtime_unit(julia));
    std::sort(d.closure.units.begin(), d.closure.units.end(),
              [](const env::DepotUnit& a, const env::DepotUnit& b) { return a.path < b.path; });
  }
  env::Environment units; // the units as roots, shipped as they are
  units.project_dir = env.project_dir;
  units.gitignore = false;
  units.allow_secrets = true; // a package's test keys are the package's, verified below
  // A runtime's links to the system's libraries ship as those files: the
  // machines may have none of them (packages' trees are verified whole).
  units.follow_outside_links = ship_runtime;
  for (const env::DepotUnit& u : d.closure.units) {
    const fs::path source = fs::canonical(u.source);
    units.roots.push_back(source);
    d.layout.placed.emplace_back(source, u.path);
  }
  d.tree = layout::walk_tree(units, d.layout, o.hash_threads, &cache);
  // Verified as Pkg verifies a download; a tree verified before with the
  // same contents is known by them (the hash cache read no file of it).
  hash::GitTreeCache verified(cache.file().empty() ? fs::path() : cache.file().parent_path() / "git-trees");
  std::map<std::string, hash::Hash128> keys;
  env::verify_closure(
      d.closure,
      [&](const env::DepotUnit& u) { return verified.known(keys[u.path] = unit_key(d.tree, u.path)); },
      [&](const env::DepotUnit& u, const std::string& sha1) {
        ++d.verified;
        if (sha1 == u.tree_sha1)
          verified.add(keys[u.path], sha1);
      });
  verified.save();
  return d;
}

// --instantiate on a Julia project that lists [deps] without a manifest:
// Pkg.instantiate() resolves one (and downloads what it names) on this
// machine, as it would for the user, so every machine gets one manifest.
void resolve_here(const fs::path& project) {
  const char* path = std::getenv("PATH");
  const std::string julia = find_program("julia", path ? path : "");
  if (julia.empty())
    throw InputError(fmt::format("--instantiate: {} has no manifest and there is no julia on PATH here to "
                                 "resolve one",
                                 project.string()));
  std::fprintf(stderr, "distenv: %s has no manifest: resolving it here (Pkg.instantiate())\n",
               project.string().c_str());
  const CommandResult r = run_command(
      {julia, "--startup-file=no", "--project=" + project.string(), "-e", "import Pkg; Pkg.instantiate()"},
      project);
  if (r.status != 0) {
    // Julia's own error line ("ERROR: ..."), else the last line it printed.
    const std::string text = r.err.empty() ? r.out : r.err;
    std::string last;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("ERROR: ", 0) == 0 || (!line.empty() && last.rfind("ERROR: ", 0) != 0))
        last = line;
    throw Error(
        fmt::format("--instantiate: resolving {}'s manifest (julia -e 'import Pkg; Pkg.instantiate()') "
                    "failed ({}): {}",
                    project.string(), r.status, last));
  }
}

} // namespace

namespace {

// What distenv and its job templates write into a project never ships
// (each root's top): results collected back, the job logs of SLURM
// (slurm-<job>.out), of the templates (distenv-<job>.out) and of PBS
// (distenv.o<job>), and the --report file. The environment's own exclude
// rules come after: a `!` there can take one back.
env::IgnoreRules own_outputs(const cli::Options& o, const env::Environment& e) {
  env::IgnoreRules rules;
  for (const char* rule : {"/distenv-results/", "/slurm-*.out", "/distenv-*.out", "/distenv.o[0-9]*"})
    rules.add(rule);
  if (!o.report.empty()) {
    const fs::path report = fs::absolute(o.report).lexically_normal();
    for (const fs::path& root : e.roots)
      if (const fs::path rel = report.lexically_relative(root); !rel.empty() && *rel.begin() != "..")
        rules.add("/" + rel.generic_string());
  }
  rules.add_rules(e.exclude);
  return rules;
}

} // namespace

env::ReadOptions read_options(const cli::Options& o) {
  env::ReadOptions read;
  read.project_dir = o.project;
  read.test_deps = o.test_deps;
  read.gitignore = o.gitignore;
  read.allow_secrets = o.allow_secrets;
  if (o.julia_version) {
    read.julia_version = env::parse_julia_version(*o.julia_version);
    if (!read.julia_version)
      throw InputError(fmt::format("--julia-version {}: expected MAJOR.MINOR, e.g. 1.10", *o.julia_version));
  }
  read.instantiate = o.instantiate;
  return read;
}

size_t check_input(const cli::Options& o) {
  boost::system::error_code ec;
  if (!fs::is_directory(o.project, ec))
    return o.collect.size(); // not here: rank 0 reads it where it is
  env::Environment e = env::read_environment(read_options(o));
  e.never_ship.push_back(o.dest);
  layout::make_layout(e);
  return o.collect.size() + e.activation.collect.size();
}

Prepared prepare(const cli::Options& o) {
  const env::ReadOptions read = read_options(o);
  Prepared p;
  p.env = env::read_environment(read); // env: what the environment is
  if (o.instantiate && p.env.needs_resolve && o.mode == cli::Mode::job) {
    resolve_here(p.env.project_dir); // Pkg.instantiate() resolves it here, once: every machine the same
    p.env = env::read_environment(read);
  }
  p.env.never_ship.push_back(o.dest); // a store inside the project never ships
  p.env.exclude = own_outputs(o, p.env);
  p.layout = layout::make_layout(p.env); // layout: where each root goes
  // Hashes of unchanged files come from the cache (~/.cache/distenv, or the
  // store when there is no home and the store exists): no contents read.
  boost::system::error_code ec;
  hash::HashCache cache(
      hash::HashCache::default_file(p.env.project_dir, fs::is_directory(o.dest, ec) ? o.dest : ""));
  p.tree = layout::build_tree(p.env, p.layout, o.hash_threads, &cache); // files, rewrites, hashes
  p.depot = prepare_depot(o, p.env, cache); // Julia: registered packages and artifacts from the depots here
  cache.save();
  p.hashed_files = cache.misses();
  p.cached_files = cache.hits();
  p.warnings = report::plan_warnings(p.env, p.layout, p.tree);
  if (p.depot)
    p.warnings.insert(p.warnings.end(), p.depot->closure.warnings.begin(), p.depot->closure.warnings.end());
  return p;
}

install::Store store_for(const cli::Options& o) {
  install::Store store(o.dest, o.shared_store ? install::Store::Sharing::group
                                              : install::Store::Sharing::private_to_user);
  store.set_lock_timeout(o.lock_timeout_seconds);
  store.set_link_mode(install::parse_link_mode(o.link).value_or(install::LinkMode::automatic));
  return store;
}

void write_report(const fs::path& file, const nlohmann::ordered_json& j) {
  if (!file.empty())
    write_file_atomic(file, dump_for_people(j) + "\n");
}

} // namespace distenv
