#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/layout/layout.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace distenv::cluster {

// What rank 0 broadcasts after reading: the identity of the environment and
// the distinct contents of its files (hash, size, how many files hold it).
// Each machine estimates from it the space it needs, with its own block
// size, and which contents it lacks (the per-file delta). The wire form is
// binary: 16 bytes of hash and two small numbers per distinct content.
struct JobPlan {
  struct Content {
    hash::Hash128 hash;
    uint64_t size = 0;
    uint64_t count = 1; // files with this content
  };
  hash::Hash128 tree_hash;
  std::string project; // install-relative project directory
  uint64_t entries = 0;
  uint64_t files = 0; // regular files and symlinks
  uint64_t bytes = 0;
  std::vector<Content> contents; // regular files' distinct contents, in first-seen path order
  // A depot's plan (install/depot.cpp): the directories installed one by
  // one ("packages/Example/3rsi"), sorted; empty for an environment.
  std::vector<std::string> units;

  static JobPlan from_tree(const layout::Tree& tree, const std::string& project);
  std::string encode() const;
  static JobPlan decode(const std::string& bytes);

  // Bytes the install takes on a file system with `block`-sized blocks:
  // each file rounded up, one block per entry for inodes and directories.
  uint64_t disk_estimate(uint64_t block) const;
};

// What one machine's store says during the check.
struct StoreState {
  bool has = false;     // the environment is installed there
  std::string store_id; // machines with one id share one store (one file system)
  std::string changed;  // installed, but this changed since: it is installed again
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StoreState, has, store_id, changed)

// Which machines receive the stream: those whose store lacks the
// environment, one per shared store (the lowest-numbered).
std::vector<int> choose_receivers(const std::vector<StoreState>& machines);

} // namespace distenv::cluster
