// Rank 0's reading of the environment, shared by every mode.
#include <distenv/pipeline.hpp>

#include <distenv/hash/hash_cache.hpp>
#include <distenv/report/plan_report.hpp>

#include <boost/filesystem/operations.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/json_text.hpp>

#include <fmt/format.h>

namespace distenv {

Prepared prepare(const cli::Options& o) {
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
  Prepared p;
  p.env = env::read_environment(read);   // env: what the environment is
  p.env.never_ship.push_back(o.dest);    // a store inside the project never ships
  p.layout = layout::make_layout(p.env); // layout: where each root goes
  // Hashes of unchanged files come from the cache (~/.cache/distenv, or the
  // store when there is no home and the store exists): no contents read.
  boost::system::error_code ec;
  hash::HashCache cache(
      hash::HashCache::default_file(p.env.project_dir, fs::is_directory(o.dest, ec) ? o.dest : ""));
  p.tree = layout::build_tree(p.env, p.layout, o.hash_threads, &cache); // files, rewrites, hashes
  cache.save();
  p.hashed_files = cache.misses();
  p.cached_files = cache.hits();
  p.warnings = report::plan_warnings(p.env, p.layout, p.tree);
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
