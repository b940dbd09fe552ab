// The single-machine pipeline for tests: read, lay out, pack, install.
#include "support/pipeline.hpp"
#include "support/memory_chunks.hpp"

#include <distenv/pack/archive_writer.hpp>

#include <algorithm>

namespace distenv::test {

Planned plan(const fs::path& project, std::optional<std::pair<int, int>> julia_version) {
  env::ReadOptions options;
  options.project_dir = project;
  options.julia_version = julia_version;
  return plan(options);
}

Planned plan(const env::ReadOptions& options) {
  Planned p;
  p.env = env::read_environment(options);
  p.layout = layout::make_layout(p.env);
  p.tree = layout::build_tree(p.env, p.layout, 2);
  return p;
}

std::vector<std::string> dev_names(const env::Environment& e) {
  std::vector<std::string> names;
  for (const auto& d : e.dev_packages)
    names.push_back(d.name);
  std::sort(names.begin(), names.end());
  return names;
}

install::Store::Result install_locally(const Planned& p, const fs::path& dest, size_t chunk_size,
                                       install::LinkMode link) {
  test::MemoryChunks chunks;
  pack::PackOptions po;
  po.chunk_size = chunk_size;
  pack::pack_tree(p.tree, chunks, po);
  install::Store store(dest);
  store.set_link_mode(link);
  return store.install(p.tree.tree_hash, p.tree.bytes, chunks);
}

} // namespace distenv::test
