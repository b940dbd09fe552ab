// The plan, as text for people and as JSON for scripts.
#include <distenv/report/plan_report.hpp>

#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace distenv::report {

namespace {

struct RootCount {
  std::string installed;
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Files and bytes per root: each entry counts for the deepest root holding it.
std::vector<RootCount> count_roots(const env::Environment& env, const layout::Layout& layout,
                                   const layout::Tree& tree) {
  std::vector<RootCount> counts;
  for (const fs::path& root : env.roots)
    counts.push_back({layout.to_install(root)});
  for (const layout::FileEntry& e : tree.entries) {
    if (e.type == hash::EntryType::directory)
      continue;
    RootCount* best = nullptr;
    for (RootCount& c : counts)
      if (e.path.size() > c.installed.size() && e.path.compare(0, c.installed.size(), c.installed) == 0 &&
          e.path[c.installed.size()] == '/' && (!best || c.installed.size() > best->installed.size()))
        best = &c;
    if (best) {
      ++best->files;
      best->bytes += e.size;
    }
  }
  return counts;
}

const char* kind_name(env::Kind kind) {
  return kind == env::Kind::julia ? "julia" : "generic";
}

} // namespace

std::vector<std::string> plan_warnings(const env::Environment& env, const layout::Layout& layout,
                                       const layout::Tree& tree) {
  constexpr uint64_t k_large_bytes = uint64_t(1) << 30;
  constexpr uint64_t k_many_files = 100000;
  std::vector<std::string> out = env.warnings;
  out.insert(out.end(), tree.warnings.begin(), tree.warnings.end());
  const std::vector<RootCount> counts = count_roots(env, layout, tree);
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i].bytes <= k_large_bytes && counts[i].files <= k_many_files)
      continue;
    // The largest directories right below the root: where the bytes are.
    const std::string prefix = counts[i].installed.empty() ? "" : counts[i].installed + "/";
    std::map<std::string, uint64_t> below;
    for (const layout::FileEntry& e : tree.entries) {
      if (e.type == hash::EntryType::directory || e.path.compare(0, prefix.size(), prefix) != 0)
        continue;
      const size_t slash = e.path.find('/', prefix.size());
      if (slash != std::string::npos)
        below[e.path.substr(prefix.size(), slash - prefix.size()) + "/"] += e.size;
    }
    std::vector<std::pair<uint64_t, std::string>> largest;
    for (const auto& [dir, bytes] : below)
      largest.emplace_back(bytes, dir);
    std::sort(largest.rbegin(), largest.rend());
    std::string list;
    for (size_t k = 0; k < std::min<size_t>(5, largest.size()); ++k)
      list += fmt::format("{}{} {}", k ? ", " : "", largest[k].second, human_bytes(largest[k].first));
    out.push_back(fmt::format(
        "{}: {} ships {} in {} files{}: if the workers do not need all of it, leave the rest "
        "out (exclude in distenv.toml, or .distenvignore)",
        i < env.root_from.size() ? env.root_from[i] : "root", env.roots[i].string(),
        human_bytes(counts[i].bytes), counts[i].files, list.empty() ? "" : " (largest: " + list + ")"));
  }
  return out;
}

std::string plan_text(const env::Environment& env, const layout::Layout& layout, const layout::Tree& tree,
                      const fs::path& install_root) {
  std::string out;
  auto line = [&]<typename... Args>(fmt::format_string<Args...> f, Args&&... args) {
    out += fmt::format(f, std::forward<Args>(args)...);
    out += '\n';
  };
  line("environment  {} ({})", env.project_dir.string(), kind_name(env.kind));
  if (!env.manifest_file.empty())
    line("manifest     {} (format {})", env.manifest_file.filename().string(), env.manifest_format);
  line("tree hash    {}", tree.tree_hash.hex());
  line("ships        {} files, {} ({} bytes), {} entries", tree.files, human_bytes(tree.bytes), tree.bytes,
       tree.entries.size());
  line("install root {}", install_root.string());
  line("project dir  {}", (install_root / layout.project).string());
  line("roots:");
  std::vector<RootCount> counts = count_roots(env, layout, tree);
  for (size_t i = 0; i < env.roots.size(); ++i)
    line("  {} -> {}  ({} files, {})", env.roots[i].string(), counts[i].installed, counts[i].files,
         human_bytes(counts[i].bytes));
  std::vector<const fs::path*> single;
  for (const fs::path& f : env.files)
    if (std::none_of(env.roots.begin(), env.roots.end(), [&](const fs::path& r) { return is_within(f, r); }))
      single.push_back(&f);
  if (!single.empty()) {
    line("single files (their directories do not ship):");
    for (const fs::path* f : single)
      line("  {} -> {}", f->string(), layout.to_install(*f));
  }
  if (!tree.left_out.empty()) {
    line("left out: {} Julia packages inside the roots that the manifest does not use (distenv.toml roots "
         "ships "
         "one anyway):",
         tree.left_out.size());
    for (const std::string& dir : tree.left_out)
      line("  {}", dir);
  }
  line("dev packages: {}", env.dev_packages.size());
  for (const env::DevPackage& d : env.dev_packages)
    line("  {}  {} -> {}  (declared \"{}\" at {})", d.name, d.source.string(), layout.to_install(d.source),
         d.declared, d.where);
  if (!env.registered.empty()) {
    const auto found = std::count_if(env.registered.begin(), env.registered.end(),
                                     [](const env::RegisteredPackage& p) { return p.found.has_value(); });
    std::string depots;
    for (const fs::path& d : env.depots)
      depots += (depots.empty() ? "" : ", ") + d.string();
    line("registered packages: {} ({} in the depots here: {}; {} not)", env.registered.size(), found,
         depots.empty() ? "none" : depots, env.registered.size() - found);
    for (const env::RegisteredPackage& p : env.registered) {
      std::string check;
      if (!p.computed_sha1.empty())
        check = p.computed_sha1 == p.tree_sha1
                    ? "  (its git tree hash is the manifest's)"
                    : fmt::format(
                          "  (its git tree hash is {}, not the manifest's: changed since Pkg installed it; "
                          "remove it and run Pkg.instantiate() here)",
                          p.computed_sha1);
      line("  {}  {}  {}{}", p.name, p.tree_sha1,
           p.found ? p.found->string() : fmt::format("not in any depot (declared at {})", p.where), check);
    }
  }
  const auto changed =
      std::count_if(tree.rewritten.begin(), tree.rewritten.end(),
                    [](const layout::RewrittenPath& r) { return r.original != r.rewritten; });
  line("path values: {} ({} rewritten, {} already relative and unchanged)", tree.rewritten.size(), changed,
       tree.rewritten.size() - changed);
  for (const layout::RewrittenPath& r : tree.rewritten)
    if (r.original != r.rewritten)
      line("  {}  \"{}\" -> \"{}\"  (resolves to {})", r.where, r.original, r.rewritten, r.target);
    else
      line("  {}  \"{}\" unchanged  (resolves to {})", r.where, r.original, r.target);
  const auto& act = env.activation;
  if (!act.runtime.empty())
    line("runtime      {}", act.runtime);
  for (const auto& [k, v] : act.env)
    line("env          {}={}", k, v);
  return out;
}

nlohmann::ordered_json plan_json(const env::Environment& env, const layout::Layout& layout,
                                 const layout::Tree& tree, const fs::path& install_root) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["project"] = env.project_dir.string();
  j["kind"] = kind_name(env.kind);
  j["manifest"] = env.manifest_file.string();
  j["manifest_format"] = env.manifest_format;
  j["tree_hash"] = tree.tree_hash.hex();
  j["files"] = tree.files;
  j["bytes"] = tree.bytes;
  j["entries"] = tree.entries.size();
  j["install_root"] = install_root.string();
  j["project_dir"] = (install_root / layout.project).string();
  std::vector<RootCount> counts = count_roots(env, layout, tree);
  ordered_json roots = ordered_json::array();
  for (size_t i = 0; i < env.roots.size(); ++i)
    roots.push_back({{"source", env.roots[i].string()},
                     {"installed", counts[i].installed},
                     {"files", counts[i].files},
                     {"bytes", counts[i].bytes}});
  j["roots"] = roots;
  ordered_json files = ordered_json::array(); // single files that ship whatever ignore rules say
  for (const fs::path& f : env.files)
    files.push_back({{"source", f.string()}, {"installed", layout.to_install(f)}});
  j["ship_files"] = files;
  j["left_out_packages"] = tree.left_out;
  ordered_json devs = ordered_json::array();
  for (const env::DevPackage& d : env.dev_packages)
    devs.push_back({{"name", d.name},
                    {"uuid", d.uuid},
                    {"declared", d.declared},
                    {"declared_at", d.where},
                    {"source", d.source.string()},
                    {"installed", layout.to_install(d.source)}});
  j["dev_packages"] = devs;
  ordered_json registered = ordered_json::array();
  for (const env::RegisteredPackage& p : env.registered)
    registered.push_back({{"name", p.name},
                          {"uuid", p.uuid},
                          {"git_tree_sha1", p.tree_sha1},
                          {"declared_at", p.where},
                          {"found", p.found ? p.found->string() : std::string()},
                          {"computed_git_tree_sha1", p.computed_sha1}});
  j["registered_packages"] = registered;
  ordered_json depots = ordered_json::array();
  for (const fs::path& d : env.depots)
    depots.push_back(d.string());
  j["depots"] = depots;
  ordered_json rewritten = ordered_json::array();
  for (const layout::RewrittenPath& r : tree.rewritten)
    rewritten.push_back({{"file", r.file},
                         {"where", r.where},
                         {"original", r.original},
                         {"rewritten", r.rewritten},
                         {"target", r.target}});
  j["rewritten"] = rewritten;
  ordered_json vars = ordered_json::object();
  for (const auto& [k, v] : env.activation.env)
    vars[k] = v;
  j["env"] = vars;
  j["runtime"] = env.activation.runtime;
  return j;
}

} // namespace distenv::report
