// Reading a Julia project: which manifest Julia would pick, its dev packages
// (format 1.0 and 2.x), [sources] paths, and [sources] chains between packages.
#include <distenv/env/julia.hpp>

#include <distenv/env/toml_doc.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <regex>
#include <set>

namespace distenv::env {

namespace {

bool is_file(const fs::path& p) {
  boost::system::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Manifest-v1.10.toml / JuliaManifest-v1.10.toml -> (1, 10)
std::optional<std::pair<int, int>> manifest_version(const std::string& name) {
  static const std::regex k_versioned(R"((?:Julia)?Manifest-v(\d+)\.(\d+)\.toml)");
  std::smatch m;
  if (!std::regex_match(name, m, k_versioned))
    return std::nullopt;
  return std::make_pair(std::stoi(m[1]), std::stoi(m[2]));
}

// Julia's own order (base/loading.jl): versioned names for the running
// version first, then the plain ones; JuliaManifest before Manifest.
std::vector<std::string> manifest_candidates(std::optional<std::pair<int, int>> version) {
  std::vector<std::string> names;
  if (version) {
    names.push_back(fmt::format("JuliaManifest-v{}.{}.toml", version->first, version->second));
    names.push_back(fmt::format("Manifest-v{}.{}.toml", version->first, version->second));
  }
  names.push_back("JuliaManifest.toml");
  names.push_back("Manifest.toml");
  return names;
}

// Without --julia-version: the newest versioned manifest present, if any.
std::optional<std::pair<int, int>> newest_manifest_version(const fs::path& dir) {
  std::optional<std::pair<int, int>> newest;
  for (const fs::path& m : list_manifests(dir))
    if (auto v = manifest_version(m.filename().string()); v && (!newest || *v > *newest))
      newest = v;
  return newest;
}

fs::path resolve_declared(const std::string& declared, const fs::path& base) {
  std::string p = declared;
  // Old manifests written on Windows: "..\\..\\packages\\X".
  if (p.find('\\') != std::string::npos && p.find('/') == std::string::npos)
    std::replace(p.begin(), p.end(), '\\', '/');
  fs::path path(p);
  return path.is_absolute() ? path : base / path;
}

class JuliaReader {
public:
  JuliaReader(Environment& env) : m_env(env) {}

  std::string display(const fs::path& p) const { return display_path(p, m_env.project_dir); }

  // A `path` value found in a TOML document: resolve it, check it, record it.
  void add_path(const TomlDoc& doc, const toml::node& value, const std::string& name,
                const std::string& uuid, const fs::path& base) {
    const std::string where = doc.where(value);
    const auto* str = value.as_string();
    if (!str)
      throw InputError(fmt::format("{}: dev package {}: path must be a string", where, name));
    const std::string declared = str->get();
    const fs::path resolved = resolve_declared(declared, base);
    boost::system::error_code ec;
    auto st = fs::status(resolved, ec);
    if (!fs::exists(st))
      throw InputError(fmt::format("{}: dev package {}: path \"{}\" does not exist ({})", where,
                                   name, declared, resolved.lexically_normal().string()));
    if (!fs::is_directory(st))
      throw InputError(fmt::format("{}: dev package {}: path \"{}\" is not a directory ({})",
                                   where, name, declared, resolved.lexically_normal().string()));
    fs::path dir = fs::canonical(resolved, ec);
    if (ec)
      throw InputError(fmt::format("{}: dev package {}: {}: {}", where, name, resolved.string(),
                                   ec.message()));
    if (fs::is_empty(dir, ec))
      throw InputError(fmt::format("{}: dev package {}: {} is empty (a git submodule that was "
                                   "not checked out?)",
                                   where, name, dir.string()));

    PathRef ref;
    ref.file = doc.path;
    ref.where = where;
    ref.line = value.source().begin.line;
    ref.column = value.source().begin.column;
    ref.target = dir;
    ref.original = declared;
    m_env.path_refs.push_back(ref);

    auto it = m_by_dir.find(dir);
    if (it != m_by_dir.end()) {
      const DevPackage& other = m_env.dev_packages[it->second];
      if (other.name != name)
        throw InputError(fmt::format(
            "dev packages {} ({}) and {} ({}) would be installed at the same path: both are {}",
            other.name, other.where, name, where, dir.string()));
      return;
    }
    m_by_dir.emplace(dir, m_env.dev_packages.size());
    m_env.dev_packages.push_back(DevPackage{name, uuid, dir, declared, where});
    if (dir != m_env.project_dir)
      m_pending.push_back(dir);
  }

  void read_manifest(const TomlDoc& doc) {
    const fs::path base = doc.path.parent_path();
    auto entries = [&](const toml::table& packages) {
      for (const auto& [key, value] : packages) {
        const auto* versions = value.as_array();
        if (!versions)
          continue; // manifest_format, julia_version, registries, ... kept as they are
        for (const toml::node& v : *versions) {
          const auto* entry = v.as_table();
          if (!entry)
            continue;
          if (const toml::node* path = entry->get("path"))
            add_path(doc, *path, std::string(key.str()),
                     entry->get("uuid") && entry->get("uuid")->as_string()
                         ? entry->get("uuid")->as_string()->get()
                         : std::string(),
                     base);
        }
      }
    };
    if (const toml::node* format = doc.table.get("manifest_format")) {
      if (!format->as_string())
        throw InputError(fmt::format("{}: manifest_format must be a string", doc.where(*format)));
      m_env.manifest_format = format->as_string()->get();
      if (const toml::node* deps = doc.table.get("deps")) {
        if (!deps->as_table())
          throw InputError(fmt::format("{}: deps must be a table", doc.where(*deps)));
        entries(*deps->as_table());
      }
    } else {
      m_env.manifest_format = "1.0"; // packages at the top level
      entries(doc.table);
    }
  }

  // [sources] Name = {path = "..."}: relative to the project file's directory.
  void read_sources(const TomlDoc& doc) {
    const toml::node* sources = doc.table.get("sources");
    if (!sources)
      return;
    if (!sources->as_table())
      throw InputError(fmt::format("{}: [sources] must be a table", doc.where(*sources)));
    for (const auto& [key, value] : *sources->as_table()) {
      const auto* entry = value.as_table();
      if (!entry)
        throw InputError(
            fmt::format("{}: sources.{} must be a table", doc.where(value), key.str()));
      if (const toml::node* path = entry->get("path"))
        add_path(doc, *path, std::string(key.str()), "", doc.path.parent_path());
    }
  }

  // Dev packages can declare their own [sources] (monorepo chains).
  void follow_chains() {
    std::set<fs::path> seen;
    while (!m_pending.empty()) {
      fs::path dir = m_pending.front();
      m_pending.pop_front();
      if (!seen.insert(dir).second)
        continue;
      fs::path project = find_julia_project(dir);
      if (project.empty())
        continue;
      read_sources(parse_toml_file(project, display(project)));
    }
  }

  // The topmost directory above `dir` whose project lists it (or a workspace
  // that lists it) in `[workspace] projects`, or an empty path.
  fs::path workspace_root(const fs::path& dir) {
    fs::path member = dir, root;
    for (fs::path p = dir.parent_path(); !p.empty() && p != p.parent_path(); p = p.parent_path()) {
      const fs::path project = find_julia_project(p);
      if (project.empty())
        continue;
      const TomlDoc doc = parse_toml_file(project, display(project));
      const toml::array* projects = nullptr;
      if (const auto* ws = doc.table.get("workspace"); ws && ws->as_table())
        if (const auto* list = ws->as_table()->get("projects"))
          projects = list->as_array();
      bool listed = false;
      if (projects)
        for (const toml::node& entry : *projects)
          if (entry.as_string() && (p / entry.as_string()->get()).lexically_normal() == member.lexically_normal())
            listed = true;
      if (!listed)
        break;
      root = member = p;
    }
    return root;
  }

  fs::path pick_manifest(const TomlDoc& project, const ReadOptions& options,
                         bool& has_deps, bool& has_source_paths) {
    const fs::path dir = project.path.parent_path();
    const auto* deps = project.table.get("deps");
    has_deps = deps && deps->as_table() && !deps->as_table()->empty();
    has_source_paths = project.table.get("sources") != nullptr;
    if (const toml::node* explicit_manifest = project.table.get("manifest")) {
      if (!explicit_manifest->as_string())
        throw InputError(
            fmt::format("{}: manifest must be a string", project.where(*explicit_manifest)));
      fs::path m = resolve_declared(explicit_manifest->as_string()->get(), dir);
      if (!is_file(m))
        throw InputError(fmt::format("{}: manifest \"{}\" does not exist ({})",
                                     project.where(*explicit_manifest),
                                     explicit_manifest->as_string()->get(),
                                     m.lexically_normal().string()));
      return fs::canonical(m); // its path values are rewritten by path: one name for it
    }
    auto version = options.julia_version ? options.julia_version : newest_manifest_version(dir);
    std::vector<std::string> names = manifest_candidates(version);
    for (const std::string& name : names)
      if (is_file(dir / name))
        return dir / name;
    // Julia 1.12 workspaces: a member without a manifest of its own uses the
    // one of the topmost workspace root that lists it.
    if (const fs::path root = workspace_root(dir); !root.empty()) {
      auto root_version = options.julia_version ? options.julia_version : newest_manifest_version(root);
      for (const std::string& name : manifest_candidates(root_version))
        if (is_file(root / name))
          return root / name;
    }
    if (has_deps && !has_source_paths) {
      std::string looked;
      for (const std::string& name : names)
        looked += (looked.empty() ? "" : ", ") + name;
      throw InputError(fmt::format("{} lists [deps] but there is no manifest in {} (looked for {})",
                                   project.display, dir.string(), looked));
    }
    return {};
  }

private:
  Environment& m_env;
  std::map<fs::path, size_t> m_by_dir;
  std::deque<fs::path> m_pending;
};

} // namespace

std::string display_path(const fs::path& path, const fs::path& project_dir) {
  if (is_within(path, project_dir))
    return generic(path.lexically_relative(project_dir));
  return path.string();
}

fs::path find_julia_project(const fs::path& dir) {
  for (const char* name : {"JuliaProject.toml", "Project.toml"})
    if (is_file(dir / name))
      return dir / name;
  return {};
}

std::vector<fs::path> list_manifests(const fs::path& dir) {
  std::vector<fs::path> found;
  boost::system::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name == "Manifest.toml" || name == "JuliaManifest.toml" || manifest_version(name))
      found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

void read_julia(Environment& env, const ReadOptions& options) {
  JuliaReader reader(env);
  env.kind = Kind::julia;
  env.project_file = find_julia_project(env.project_dir);
  TomlDoc project = parse_toml_file(env.project_file, reader.display(env.project_file));

  bool has_deps = false, has_source_paths = false;
  env.manifest_file = reader.pick_manifest(project, options, has_deps, has_source_paths);
  if (!env.manifest_file.empty())
    reader.read_manifest(parse_toml_file(env.manifest_file, reader.display(env.manifest_file)));
  reader.read_sources(project);
  reader.follow_chains();

  env.activation.runtime = "julia";
  env.activation.runtime_hint =
      "install Julia with juliaup (https://julialang.org/install/) and put `julia` on PATH";
  env.activation.env.emplace_back("JULIA_PROJECT", "{project}");
}

} // namespace distenv::env
