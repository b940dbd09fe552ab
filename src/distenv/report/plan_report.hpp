#pragma once

#include <distenv/env/environment.hpp>
#include <distenv/env/julia_closure.hpp>
#include <distenv/layout/layout.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace distenv::report {

// What `--plan` shows: roots, dev packages (source -> installed), counts,
// the tree hash and the rewritten paths. `install_root` is where the tree
// would go on each machine (<dest>/envs/<hash>).
std::string plan_text(const env::Environment& env, const layout::Layout& layout, const layout::Tree& tree,
                      const fs::path& install_root);

// Roots large enough that shipping them is likely a mistake (more than
// 1 GiB or 100,000 files), one line each, naming where they were declared.
std::vector<std::string> plan_warnings(const env::Environment& env, const layout::Layout& layout,
                                       const layout::Tree& tree);

// The depot a Julia environment brings (env::julia_closure): each unit,
// where it comes from, its files and bytes; `depot_path` is the workers'
// JULIA_DEPOT_PATH.
std::string depot_text(const env::Closure& closure, const layout::Tree& tree, const fs::path& depot,
                       const std::string& depot_path);
nlohmann::ordered_json depot_json(const env::Closure& closure, const layout::Tree& tree,
                                  const fs::path& depot, const std::string& depot_path);

nlohmann::ordered_json plan_json(const env::Environment& env, const layout::Layout& layout,
                                 const layout::Tree& tree, const fs::path& install_root);

} // namespace distenv::report
