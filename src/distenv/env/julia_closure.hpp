#pragma once

#include <distenv/env/environment.hpp>

#include <functional>
#include <string>
#include <vector>

namespace distenv::env {

// One directory of a Julia depot that ships: a registered package's tree or
// an artifact. Every machine gets it at the same place of its store-wide
// depot as it has in the depot here, so Julia finds it there the same way.
struct DepotUnit {
  std::string path;      // in the depot: "packages/Example/3rsi", "artifacts/<sha1>"
  fs::path source;       // where it is here
  std::string what;      // "Example", "artifact \"libfoo\" (Foo_jll)"
  std::string where;     // where its git-tree-sha1 is written ("Manifest.toml:12:17")
  std::string tree_sha1; // what its git tree hash must be ("": none, the runtime)
};

// The platform artifacts are chosen for (this machine's: rank 0 runs on
// the cluster). Keys an Artifacts.toml entry does not name match any value.
struct Platform {
  std::string os = "linux";
  std::string arch; // "x86_64", "aarch64", ...
  std::string libc = "glibc";
  static Platform here();
};

struct Closure {
  std::vector<DepotUnit> units; // sorted by path, unique
  std::vector<std::string> warnings;
};

// The depot part of a Julia environment's closure: every registered package
// the manifest pins by git-tree-sha1, where loading.jl would find it (env's
// `registered`, located already), and every artifact named by an
// Artifacts.toml (JuliaArtifacts.toml) of those packages, of the dev
// packages or of the project that is in a depot here for `platform` (or
// for every platform); a lazy one that was never fetched is left, a
// missing one Julia would need is a warning. A registered package in no
// depot is an InputError naming it, its manifest line and what to run.
Closure julia_closure(const Environment& env, const Platform& platform);

// Checks each unit's git tree hash (hash::git_tree_sha1, as Pkg does
// after a download): InputError naming the first unit that differs from
// its manifest / Artifacts.toml, and what to do. `known(unit)` returns a
// hash verified before for the unit as it is now, or "" (the caller's
// cache); `verified(unit, sha1)` is told each one computed.
void verify_closure(const Closure& closure, const std::function<std::string(const DepotUnit&)>& known,
                    const std::function<void(const DepotUnit&, const std::string&)>& verified);

} // namespace distenv::env
