#pragma once

#include <distenv/env/environment.hpp>
#include <distenv/env/toml_doc.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distenv::env {

bool is_file(const fs::path& p);
bool is_dir(const fs::path& p);

// A path as a manifest or a project declares it, resolved against `base`
// (Windows separators of old manifests turned into '/').
fs::path resolve_declared(const std::string& declared, const fs::path& base);

// Manifest-v1.10.toml / JuliaManifest-v1.10.toml -> (1, 10)
std::optional<std::pair<int, int>> manifest_version(const std::string& name);

// Julia's own order (base/loading.jl manifest_names): versioned names for the
// running version first, then the plain ones; JuliaManifest before Manifest.
std::vector<std::string> manifest_candidates(std::optional<std::pair<int, int>> version);

// Without --julia-version: the newest versioned manifest present, if any.
std::optional<std::pair<int, int>> newest_manifest_version(const fs::path& dir);

// The project files of one reading, each parsed once.
class ProjectFiles {
public:
  explicit ProjectFiles(fs::path project_dir) : m_project_dir(std::move(project_dir)) {}
  const TomlDoc& doc(const fs::path& file);

private:
  fs::path m_project_dir; // for the names in messages
  std::map<fs::path, std::unique_ptr<TomlDoc>> m_docs;
};

// Base.base_project: the project file of the nearest directory above the
// project whose `[workspace] projects` names the project's directory (the
// same directory, not the same text), or an empty path. The walk stops at
// the file system's root, or where it leaves the home directory when it
// started inside it.
fs::path base_project(ProjectFiles& files, const fs::path& project_file);

// A `manifest =` key of a project file.
struct KeyRef {
  const TomlDoc* doc = nullptr;
  const toml::node* node = nullptr;
};

struct ManifestChoice {
  fs::path manifest;               // none: empty
  std::vector<fs::path> workspace; // the project files of every workspace level above the project
  KeyRef used_key;                 // the `manifest =` that chose it
  KeyRef missing_key;              // a `manifest =` naming a file that does not exist
};

// Base.project_file_manifest_path: the workspace's manifest first (the
// topmost level that has one), then `manifest =` when that file exists,
// then the manifest names in the project's directory (for `version`, else
// the newest versioned one present).
ManifestChoice choose_manifest(ProjectFiles& files, const fs::path& project_file,
                               std::optional<std::pair<int, int>> version);

} // namespace distenv::env
