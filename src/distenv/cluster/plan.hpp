#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/layout/layout.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace distenv::cluster {

// What rank 0 broadcasts after reading: the identity of the environment and
// its file list with sizes (each machine estimates the space it needs with
// its own block size; the per-file delta will use the list too).
struct JobPlan {
  hash::Hash128 tree_hash;
  std::string project; // install-relative project directory
  uint64_t entries = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  std::vector<std::pair<uint64_t, std::string>> sizes; // (size, path) of files and symlinks

  static JobPlan from_tree(const layout::Tree& tree, const std::string& project);
  std::string encode() const;
  static JobPlan decode(const std::string& text);

  // Bytes the install takes on a file system with `block`-sized blocks:
  // each file rounded up, one block per entry for inodes and directories.
  uint64_t disk_estimate(uint64_t block) const;
};

// What one machine's store says during the check.
struct StoreState {
  bool has = false;     // the environment is installed there
  std::string store_id; // machines with one id share one store (one file system)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StoreState, has, store_id)

// Which machines receive the stream: those whose store lacks the
// environment, one per shared store (the lowest-numbered).
std::vector<int> choose_receivers(const std::vector<StoreState>& machines);

} // namespace distenv::cluster
