// The depot part of the plan (registered packages and artifacts), as text
// and as JSON.
#include <distenv/report/plan_report.hpp>

#include <distenv/util/units.hpp>

#include <fmt/format.h>

namespace distenv::report {

namespace {

struct UnitCount {
  uint64_t files = 0, bytes = 0;
};

// Files and bytes of each unit (the tree is sorted by path).
std::vector<UnitCount> count_units(const env::Closure& closure, const layout::Tree& tree) {
  std::vector<UnitCount> counts(closure.units.size());
  for (size_t i = 0; i < closure.units.size(); ++i) {
    const std::string& unit = closure.units[i].path;
    auto it = std::lower_bound(tree.entries.begin(), tree.entries.end(), unit,
                               [](const layout::FileEntry& e, const std::string& u) { return e.path < u; });
    for (; it != tree.entries.end() && it->path.compare(0, unit.size(), unit) == 0; ++it)
      if (it->path.size() > unit.size() && it->path[unit.size()] == '/' &&
          it->type != hash::EntryType::directory) {
        ++counts[i].files;
        counts[i].bytes += it->size;
      }
  }
  return counts;
}

} // namespace

std::string depot_text(const env::Closure& closure, const layout::Tree& tree, const fs::path& depot,
                       const std::string& depot_path) {
  std::string out = fmt::format("depot        {} on every machine: {} registered packages and artifacts, {} "
                                "files, {} (verified against their git-tree-sha1)\n",
                                depot.string(), closure.units.size(), tree.files, human_bytes(tree.bytes));
  const std::vector<UnitCount> counts = count_units(closure, tree);
  for (size_t i = 0; i < closure.units.size(); ++i) {
    const env::DepotUnit& u = closure.units[i];
    out += fmt::format("  {}  <- {}  ({}; {} files, {})\n", u.path, u.source.string(), u.what,
                       counts[i].files, human_bytes(counts[i].bytes));
  }
  out +=
      fmt::format("julia depots {} (JULIA_DEPOT_PATH of the workers: writable, then shipped)\n", depot_path);
  return out;
}

nlohmann::ordered_json depot_json(const env::Closure& closure, const layout::Tree& tree,
                                  const fs::path& depot, const std::string& depot_path) {
  nlohmann::ordered_json j;
  j["dir"] = depot.string();
  j["julia_depot_path"] = depot_path;
  j["files"] = tree.files;
  j["bytes"] = tree.bytes;
  nlohmann::ordered_json units = nlohmann::ordered_json::array();
  const std::vector<UnitCount> counts = count_units(closure, tree);
  for (size_t i = 0; i < closure.units.size(); ++i) {
    const env::DepotUnit& u = closure.units[i];
    units.push_back({{"path", u.path},
                     {"source", u.source.string()},
                     {"what", u.what},
                     {"git_tree_sha1", u.tree_sha1},
                     {"declared_at", u.where},
                     {"files", counts[i].files},
                     {"bytes", counts[i].bytes}});
  }
  j["units"] = units;
  j["warnings"] = closure.warnings;
  return j;
}

} // namespace distenv::report
