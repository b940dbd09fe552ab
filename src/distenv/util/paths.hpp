#pragma once

#include <string>

namespace distenv {

// Why a symlink at `link_path` (relative to a tree's root, '/'-separated) with
// target `target` could resolve outside the tree, or "" when it cannot: the
// target must be relative, may climb with '..' only at its start (where no
// other symlink can have moved it) and never above the root. In a tree where
// no entry lies below a symlink, links that pass this resolve inside, however
// they chain.
std::string symlink_problem(const std::string& link_path, const std::string& target);

} // namespace distenv
