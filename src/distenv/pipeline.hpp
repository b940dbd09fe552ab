#pragma once

#include <distenv/cli/options.hpp>
#include <distenv/env/environment.hpp>
#include <distenv/env/julia_closure.hpp>
#include <distenv/install/store.hpp>
#include <distenv/layout/layout.hpp>

#include <nlohmann/json.hpp>

#include <optional>

namespace distenv {

// The depot part of a Julia environment (--depot closure): the package
// trees and artifacts, placed as in a depot, and the tree that ships them.
struct PreparedDepot {
  env::Closure closure;
  layout::Layout layout;
  layout::Tree tree;
  uint64_t verified = 0; // units whose git tree hash was computed (not known from before)
};

// What rank 0 knows after reading: the environment, where everything goes,
// and the tree that ships with its identity.
struct Prepared {
  env::Environment env;
  layout::Layout layout;
  layout::Tree tree;
  std::vector<std::string> warnings;  // for people: "distenv: warning: <line>"
  uint64_t hashed_files = 0;          // files whose contents were read to hash them
  uint64_t cached_files = 0;          // files whose hashes the hash cache knew
  std::optional<PreparedDepot> depot; // a Julia environment with registered packages, unless --depot none
};

// env -> layout -> tree (walk, rewrite, hash). InputError on bad input.
Prepared prepare(const cli::Options& o);

// What the options say to read.
env::ReadOptions read_options(const cli::Options& o);
// `distenv run`'s check before mpirun starts anything (--check-input): the
// environment's files read (env, layout: no walk, no hashing) when the
// project is on this machine. InputError on bad input. Returns how many
// patterns the job collects (--collect and distenv.toml's, when read here).
size_t check_input(const cli::Options& o);

// The store --dest (and --shared-store) name.
install::Store store_for(const cli::Options& o);

// Writes `j` to `file` atomically (nothing when `file` is empty).
void write_report(const fs::path& file, const nlohmann::ordered_json& j);

} // namespace distenv
