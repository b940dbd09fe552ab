// Which manifest Julia would use for a project (base/loading.jl:
// base_project, project_file_manifest_path, manifest_names).
#include <distenv/env/julia_manifest.hpp>

#include <distenv/env/julia.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

namespace distenv::env {

bool is_file(const fs::path& p) {
  boost::system::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  boost::system::error_code ec;
  return fs::is_directory(p, ec);
}

std::optional<std::pair<int, int>> manifest_version(const std::string& name) {
  static const std::regex k_versioned(R"((?:Julia)?Manifest-v(\d+)\.(\d+)\.toml)");
  std::smatch m;
  if (!std::regex_match(name, m, k_versioned))
    return std::nullopt;
  return std::make_pair(std::stoi(m[1]), std::stoi(m[2]));
}

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
  return (path.is_absolute() ? path : base / path).lexically_normal();
}

const TomlDoc& ProjectFiles::doc(const fs::path& file) {
  auto it = m_docs.find(file);
  if (it == m_docs.end())
    it = m_docs
             .emplace(file,
                      std::make_unique<TomlDoc>(parse_toml_file(file, display_path(file, m_project_dir))))
             .first;
  return *it->second;
}

fs::path base_project(ProjectFiles& files, const fs::path& project_file) {
  const fs::path project_dir = project_file.parent_path();
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  while (home.size() > 1 && home.back() == '/')
    home.pop_back();
  const bool started_in_home = !home.empty() && project_dir.string().rfind(home, 0) == 0;
  for (fs::path current = project_dir;;) {
    const fs::path parent = current.parent_path();
    if (parent.empty() || parent == current)
      return {};
    if (started_in_home && parent.string().rfind(home, 0) != 0)
      return {};
    if (const fs::path file = find_julia_project(parent); !file.empty()) {
      const TomlDoc& doc = files.doc(file);
      if (const auto* ws = doc.table.get("workspace"); ws && ws->as_table())
        if (const auto* projects = ws->as_table()->get("projects"); projects && projects->as_array())
          for (const toml::node& entry : *projects->as_array()) {
            if (!entry.as_string())
              continue;
            const fs::path member = parent / entry.as_string()->get();
            boost::system::error_code ec;
            if (is_dir(member) && fs::equivalent(member, project_dir, ec))
              return file;
          }
    }
    current = parent;
  }
}

namespace {

fs::path manifest_for(ProjectFiles& files, const fs::path& project_file,
                      std::optional<std::pair<int, int>> version, ManifestChoice& choice) {
  if (const fs::path base = base_project(files, project_file); !base.empty()) {
    choice.workspace.push_back(base);
    if (fs::path m = manifest_for(files, base, version, choice); !m.empty())
      return m;
  }
  const TomlDoc& doc = files.doc(project_file);
  const fs::path dir = project_file.parent_path();
  if (const toml::node* key = doc.table.get("manifest")) {
    if (!key->as_string())
      throw InputError(fmt::format("{}: manifest must be a string", doc.where(*key)));
    const fs::path m = resolve_declared(key->as_string()->get(), dir);
    if (is_file(m)) {
      choice.used_key = {&doc, key};
      return fs::canonical(m);
    }
    choice.missing_key = {&doc, key};
  }
  for (const std::string& name : manifest_candidates(version ? version : newest_manifest_version(dir)))
    if (is_file(dir / name))
      return dir / name;
  return {};
}

} // namespace

ManifestChoice choose_manifest(ProjectFiles& files, const fs::path& project_file,
                               std::optional<std::pair<int, int>> version) {
  ManifestChoice choice;
  choice.manifest = manifest_for(files, project_file, version, choice);
  return choice;
}

} // namespace distenv::env
