// Mapping the environment's roots into one install tree.
#include <distenv/layout/layout.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

namespace distenv::layout {

namespace {

fs::path common_ancestor(const fs::path& a, const fs::path& b) {
  fs::path out;
  for (auto i = a.begin(), j = b.begin(); i != a.end() && j != b.end() && *i == *j; ++i, ++j)
    out /= *i;
  return out;
}

} // namespace

std::string Layout::to_install(const fs::path& source) const {
  for (const auto& [root, path] : placed)
    if (source == root)
      return path;
    else if (is_within(source, root))
      return path + "/" + generic(source.lexically_relative(root));
  return generic(source.lexically_relative(prefix));
}

Layout make_layout(const env::Environment& env) {
  fs::path common = env.roots.front();
  for (const fs::path& root : env.roots)
    common = common_ancestor(common, root);
  for (const fs::path& file : env.files)
    common = common_ancestor(common, file.parent_path());
  Layout layout;
  layout.prefix = common.has_parent_path() && common != common.root_path() ? common.parent_path() : common;
  layout.project = layout.to_install(env.project_dir);
  return layout;
}

} // namespace distenv::layout
