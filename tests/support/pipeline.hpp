#pragma once

#include <distenv/env/environment.hpp>
#include <distenv/install/store.hpp>
#include <distenv/layout/layout.hpp>

namespace distenv::test {

// Rank 0's reading, without MPI: environment, layout and tree.
struct Planned {
  env::Environment env;
  layout::Layout layout;
  layout::Tree tree;
};
Planned plan(const fs::path& project, std::optional<std::pair<int, int>> julia_version = {});
Planned plan(const env::ReadOptions& options);

// The names of the environment's dev packages, sorted.
std::vector<std::string> dev_names(const env::Environment& e);

// plan() + pack into memory in `chunk_size` chunks + install into `dest`.
install::Store::Result install_locally(const Planned& p, const fs::path& dest, size_t chunk_size = 64 << 10,
                                       install::LinkMode link = install::LinkMode::automatic);

} // namespace distenv::test
