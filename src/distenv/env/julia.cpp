// Reading a Julia project the way Julia's own loading code does
// (base/loading.jl: base_project, workspace_manifest,
// project_file_manifest_path): which manifest Julia would use, the dev
// packages it names, [sources] paths, and which files a workspace needs.
#include <distenv/env/julia.hpp>

#include <distenv/env/julia_depot.hpp>
#include <distenv/env/julia_manifest.hpp>
#include <distenv/env/toml_doc.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <memory>
#include <regex>
#include <set>

namespace distenv::env {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const std::string* string_at(const toml::table& table, std::string_view key) {
  const toml::node* n = table.get(key);
  return n && n->as_string() ? &n->as_string()->get() : nullptr;
}

class JuliaReader {
public:
  JuliaReader(Environment& env, const ReadOptions& options)
      : m_env(env), m_options(options), m_files(env.project_dir) {}

  std::string display(const fs::path& p) const { return display_path(p, m_env.project_dir); }

  const TomlDoc& project_doc(const fs::path& file) { return m_files.doc(file); }

  // A dev package must be the package its entry names.
  void check_package(const std::string& where, const std::string& name, const std::string& uuid,
                     const fs::path& dir) {
    const fs::path file = find_julia_project(dir);
    if (file.empty())
      throw InputError(fmt::format("{}: dev package {}: {} is not a Julia package (no Project.toml or "
                                   "JuliaProject.toml in it)",
                                   where, name, dir.string()));
    const TomlDoc& doc = project_doc(file);
    check_project_types(doc);
    const std::string* found = string_at(doc.table, "name");
    if (!found || *found != name)
      throw InputError(fmt::format(
          "{}: dev package {}: {} is {}, not {}", where, name, file.string(),
          found ? fmt::format("the package \"{}\"", *found) : "not a package (it has no name)", name));
    if (const std::string* found_uuid = string_at(doc.table, "uuid");
        found_uuid && !uuid.empty() && lower(*found_uuid) != lower(uuid))
      throw InputError(fmt::format("{}: dev package {}: uuid {}, but {} says {}", where, name, uuid,
                                   file.string(), *found_uuid));
  }

  // A `path` value found in a TOML document: resolve it, check it, record
  // it. False when it does not exist and `missing_ok`.
  bool add_path(const TomlDoc& doc, const toml::node& value, const std::string& name, const std::string& uuid,
                const fs::path& base, bool missing_ok = false) {
    const std::string where = doc.where(value);
    const auto* str = value.as_string();
    if (!str)
      throw InputError(fmt::format("{}: dev package {}: path must be a string", where, name));
    const std::string declared = str->get();
    const fs::path resolved = resolve_declared(declared, base);
    boost::system::error_code ec;
    auto st = fs::status(resolved, ec);
    if (!fs::exists(st)) {
      if (missing_ok)
        return false;
      throw InputError(fmt::format("{}: dev package {}: path \"{}\" does not exist ({})", where, name,
                                   declared, resolved.string()));
    }
    if (!fs::is_directory(st))
      throw InputError(fmt::format("{}: dev package {}: path \"{}\" is not a directory ({})", where, name,
                                   declared, resolved.string()));
    fs::path dir = fs::canonical(resolved, ec);
    if (ec)
      throw InputError(
          fmt::format("{}: dev package {}: {}: {}", where, name, resolved.string(), ec.message()));
    if (fs::is_empty(dir, ec))
      throw InputError(fmt::format("{}: dev package {}: {} is empty (a git submodule that was "
                                   "not checked out?)",
                                   where, name, dir.string()));
    check_root(dir, where, declared); // not the whole disk, not a home directory
    check_package(where, name, uuid, dir);

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
        throw InputError(
            fmt::format("dev packages {} ({}) and {} ({}) would be installed at the same path: both are {}",
                        other.name, other.where, name, where, dir.string()));
      return true;
    }
    m_by_dir.emplace(dir, m_env.dev_packages.size());
    m_env.dev_packages.push_back(DevPackage{name, uuid, dir, declared, where});
    if (dir != m_env.project_dir)
      m_pending.push_back(dir);
    return true;
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
          check_manifest_entry_types(doc, *entry);
          const std::string* uuid = string_at(*entry, "uuid");
          if (const toml::node* path = entry->get("path")) {
            add_path(doc, *path, std::string(key.str()), uuid ? *uuid : std::string(), base);
          } else if (const toml::node* tree = entry->get("git-tree-sha1"); tree && uuid) {
            m_env.registered.push_back({std::string(key.str()),
                                        *uuid,
                                        tree->as_string()->get(),
                                        doc.where(*tree),
                                        std::nullopt,
                                        {}});
          }
        }
      }
    };
    const toml::node* format = doc.table.get("manifest_format");
    // A format-1 manifest may have a package called manifest_format (an array).
    if (format && !format->as_array()) {
      if (!format->as_string())
        throw InputError(fmt::format("{}: manifest_format must be a string", doc.where(*format)));
      m_env.manifest_format = format->as_string()->get();
      const auto major = m_env.manifest_format.substr(0, m_env.manifest_format.find('.'));
      if (major != "1" && major != "2")
        m_env.warnings.push_back(
            fmt::format("{}: unknown manifest_format \"{}\" (Pkg knows 1.x and 2.x; it "
                        "warns of unexpected behaviour): its paths were read as format 2",
                        doc.where(*format), m_env.manifest_format));
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

  // [sources] Name = {path = "..."}: relative to the project file's
  // directory. Those of test-only [extras] are followed only when asked
  // for; with a manifest, Julia never reads [sources], so one that is
  // missing is a warning, not an error.
  void read_sources(const TomlDoc& doc, bool have_manifest) {
    const toml::node* sources = doc.table.get("sources");
    if (!sources)
      return;
    if (!sources->as_table())
      throw InputError(fmt::format("{}: [sources] must be a table", doc.where(*sources)));
    auto uuid_in = [&](const char* section, const std::string& name) -> const std::string* {
      const toml::node* t = doc.table.get(section);
      return t && t->as_table() ? string_at(*t->as_table(), name) : nullptr;
    };
    for (const auto& [key, value] : *sources->as_table()) {
      const std::string name(key.str());
      const auto* entry = value.as_table();
      if (!entry)
        throw InputError(fmt::format("{}: sources.{} must be a table", doc.where(value), name));
      const toml::node* path = entry->get("path");
      if (path && (entry->get("url") || entry->get("rev")))
        throw InputError(fmt::format("{}: sources.{}: `path` and `{}` cannot both be given (Pkg rejects it)",
                                     doc.where(value), name, entry->get("url") ? "url" : "rev"));
      for (const auto& [k, v] : *entry)
        if (k.str() != "path" && k.str() != "url" && k.str() != "rev" && k.str() != "subdir")
          throw InputError(
              fmt::format("{}: sources.{}: invalid key `{}` (Pkg knows path, url, rev and subdir)",
                          doc.where(v), name, k.str()));
      // Pkg's validate (src/project.jl): a source for a package the project
      // neither depends on nor lists for tests is an error, a weak
      // dependency's too.
      const std::string* uuid = uuid_in("deps", name);
      if (!uuid && !uuid_in("extras", name))
        throw InputError(fmt::format("{}: sources.{} is listed in neither [deps] nor [extras]{} (Pkg refuses "
                                     "it: \"Sources for `{}` not listed in `deps` or `extras` section\")",
                                     doc.where(value), name,
                                     uuid_in("weakdeps", name) ? " (only in [weakdeps])" : "", name));
      if (!path)
        continue;
      if (!uuid) {
        if (!m_options.test_deps)
          continue; // test-only: --test-deps ships it
        uuid = uuid_in("extras", name);
      }
      if (!add_path(doc, *path, name, uuid ? *uuid : std::string(), doc.path.parent_path(), have_manifest))
        m_env.warnings.push_back(fmt::format(
            "{}: sources.{}: path \"{}\" does not exist; Julia loads {} from the manifest, but Pkg cannot "
            "resolve this project again",
            doc.where(*path), name, path->as_string()->get(), name));
    }
  }

  // Without a manifest, Pkg resolves from [sources], dev packages' own
  // [sources] included (monorepo chains).
  void follow_chains() {
    std::set<fs::path> seen;
    while (!m_pending.empty()) {
      fs::path dir = m_pending.front();
      m_pending.pop_front();
      if (!seen.insert(dir).second)
        continue;
      fs::path project = find_julia_project(dir);
      if (!project.empty())
        read_sources(project_doc(project), false);
    }
  }

  // A workspace without a manifest resolves as one (Pkg's load_direct_deps):
  // every member's [sources] and every member that is a package are there
  // for each member, so their code ships.
  void read_workspace_sources(const fs::path& root, const fs::path& project_file) {
    std::set<fs::path> members;
    collect_workspace(root, members);
    for (const fs::path& member : members) {
      if (member == project_file)
        continue;
      const TomlDoc& doc = project_doc(member);
      read_sources(doc, false);
      const toml::node* name = doc.table.get("name");
      if (doc.table.get("uuid") && name && name->as_string()) {
        add_root(m_env, member.parent_path(), doc.display + " (a workspace member)",
                 generic(member.parent_path()));
        m_pending.push_back(member.parent_path());
      }
    }
  }

  // Every project file of a workspace (Pkg's collect_workspace): the root's
  // members, and theirs.
  void collect_workspace(const fs::path& project_file, std::set<fs::path>& out) {
    if (!out.insert(project_file).second)
      return;
    const TomlDoc& doc = project_doc(project_file);
    if (const auto* ws = doc.table.get("workspace"); ws && ws->as_table())
      if (const auto* projects = ws->as_table()->get("projects"); projects && projects->as_array())
        for (const toml::node& entry : *projects->as_array())
          if (entry.as_string()) {
            const fs::path dir = resolve_declared(entry.as_string()->get(), project_file.parent_path());
            if (const fs::path member = find_julia_project(dir); !member.empty())
              collect_workspace(fs::canonical(member), out);
          }
  }

  void read(const fs::path& project_file) {
    const ManifestChoice choice = choose_manifest(m_files, project_file, m_options.julia_version);
    const std::vector<fs::path>& workspace = choice.workspace;
    m_env.manifest_file = choice.manifest;
    const bool have_manifest = !m_env.manifest_file.empty();
    if (choice.used_key.doc) {
      // `manifest = "/abs/..."` or "../M.toml": rewritten to the installed manifest.
      const toml::node& key = *choice.used_key.node;
      m_env.path_refs.push_back({choice.used_key.doc->path, choice.used_key.doc->where(key),
                                 key.source().begin.line, key.source().begin.column, m_env.manifest_file,
                                 key.as_string()->get()});
    } else if (choice.missing_key.doc) {
      const toml::node& key = *choice.missing_key.node;
      m_env.warnings.push_back(fmt::format("{}: manifest \"{}\" does not exist: Julia uses {}",
                                           choice.missing_key.doc->where(key), key.as_string()->get(),
                                           have_manifest ? display(m_env.manifest_file) : "no manifest"));
    }
    if (!workspace.empty()) {
      // The workspace's levels above the project, every member's project
      // file and the root's preferences ship as single files, so Julia and
      // Pkg find the same workspace on every machine; the rest of the
      // workspace ships only where the manifest uses it.
      std::set<fs::path> files;
      collect_workspace(workspace.back(), files);
      files.insert(workspace.begin(), workspace.end());
      for (const char* prefs : {"JuliaLocalPreferences.toml", "LocalPreferences.toml"})
        if (const fs::path p = workspace.back().parent_path() / prefs; is_file(p))
          files.insert(fs::canonical(p));
      for (const fs::path& f : files)
        add_file(m_env, fs::canonical(f));
    }
    // Preferences beside the project ship even when git ignores them:
    // Julia reads them (Base.collect_preferences) and they key the caches.
    for (const char* prefs : {"JuliaLocalPreferences.toml", "LocalPreferences.toml"})
      if (const fs::path p = project_file.parent_path() / prefs; is_file(p))
        add_file(m_env, fs::canonical(p));
    if (have_manifest) {
      read_manifest(project_doc(m_env.manifest_file));
      locate_registered(m_env);
    }
    const TomlDoc& project = project_doc(project_file);
    check_project_types(project);
    read_sources(project, have_manifest);
    if (!have_manifest && !workspace.empty())
      read_workspace_sources(workspace.back(), project_file);
    if (!have_manifest)
      follow_chains();

    const auto* deps = project.table.get("deps");
    const bool has_deps = deps && deps->as_table() && !deps->as_table()->empty();
    if (!have_manifest && has_deps && !project.table.get("sources")) {
      // Julia loads nothing of [deps] without a manifest; Pkg.instantiate()
      // resolves one first (--instantiate: on the reading machine, once).
      std::string looked;
      const fs::path dir = project_file.parent_path();
      for (const std::string& name : manifest_candidates(
               m_options.julia_version ? m_options.julia_version : newest_manifest_version(dir)))
        looked += (looked.empty() ? "" : ", ") + name;
      m_env.needs_resolve = true;
      if (!m_options.instantiate)
        m_env.warnings.push_back(fmt::format(
            "{} lists [deps] but there is no manifest in {}{} (looked for {}): Julia will not load them as "
            "it "
            "stands; run Pkg.instantiate() there first, or pass --instantiate",
            project.display, dir.string(),
            workspace.empty()
                ? ""
                : fmt::format(" nor in its workspace ({})", workspace.back().parent_path().string()),
            looked));
    }
  }

private:
  Environment& m_env;
  const ReadOptions& m_options;
  ProjectFiles m_files;
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
  JuliaReader reader(env, options);
  env.kind = Kind::julia;
  env.leave_out_unused_packages = !options.test_deps;
  env.project_file = find_julia_project(env.project_dir);
  reader.read(env.project_file);

  env.activation.runtime = "julia";
  env.activation.runtime_hint =
      "install Julia with juliaup (https://julialang.org/install/) and put `julia` on PATH";
  env.activation.env.emplace_back("JULIA_PROJECT", "{project}");
}

} // namespace distenv::env
