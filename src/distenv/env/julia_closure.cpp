// What a Julia environment needs from the depots here: registered packages
// and their artifacts (Pkg's Artifacts.toml), found as Julia finds them.
#include <distenv/env/julia_closure.hpp>

#include <distenv/env/toml_doc.hpp>
#include <distenv/hash/git_tree.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sys/utsname.h>

namespace distenv::env {

Platform Platform::here() {
  Platform p;
  struct utsname u {};
  p.arch = ::uname(&u) == 0 ? u.machine : "x86_64";
  return p;
}

namespace {

bool present(const fs::path& p) {
  boost::system::error_code ec;
  return fs::exists(p, ec);
}

// An Artifacts.toml entry's platform keys against `platform` (Pkg's
// artifact_meta picks the entry whose platform matches the host's).
bool matches(const toml::table& entry, const Platform& platform) {
  auto same = [&](const char* key, const std::string& value) {
    const toml::node* n = entry.get(key);
    return !n || !n->as_string() || n->as_string()->get() == value;
  };
  return same("os", platform.os) && same("arch", platform.arch) && same("libc", platform.libc);
}

class Collector {
public:
  Collector(const Environment& env, const Platform& platform) : m_env(env), m_platform(platform) {}

  void packages() {
    std::vector<const RegisteredPackage*> missing;
    for (const RegisteredPackage& p : m_env.registered) {
      if (!p.found) {
        missing.push_back(&p);
        continue;
      }
      const fs::path rel = p.found->parent_path().parent_path().filename() /
                           p.found->parent_path().filename() / p.found->filename();
      add({rel.generic_string(), *p.found, p.name, p.where, p.tree_sha1});
      artifacts_of(*p.found, p.name);
    }
    if (!missing.empty()) {
      std::string depots;
      for (const fs::path& d : m_env.depots)
        depots += (depots.empty() ? "" : ", ") + d.string();
      const RegisteredPackage& p = *missing.front();
      throw InputError(fmt::format(
          "{}: {} ({}) is in no depot here (looked in {}){}: run julia --project={} -e 'using Pkg; "
          "Pkg.instantiate()' here, once, or pass --depot none if every machine has its own",
          p.where, p.name, p.uuid, depots.empty() ? "none: JULIA_DEPOT_PATH is empty" : depots,
          missing.size() == 2  ? "; 1 more package is missing too"
          : missing.size() > 2 ? fmt::format("; {} more packages are missing too", missing.size() - 1)
                               : "",
          m_env.project_dir.string()));
    }
    for (const DevPackage& d : m_env.dev_packages)
      artifacts_of(d.source, d.name);
    artifacts_of(m_env.project_dir, "the project");
  }

  Closure done() {
    std::stable_sort(m_out.units.begin(), m_out.units.end(),
                     [](const DepotUnit& a, const DepotUnit& b) { return a.path < b.path; });
    m_out.units.erase(std::unique(m_out.units.begin(), m_out.units.end(),
                                  [](const DepotUnit& a, const DepotUnit& b) { return a.path == b.path; }),
                      m_out.units.end());
    return std::move(m_out);
  }

private:
  void add(DepotUnit u) { m_out.units.push_back(std::move(u)); }

  // The package's (Julia)Artifacts.toml, the first of the two names that
  // is there, as Pkg's find_artifacts_toml looks.
  void artifacts_of(const fs::path& dir, const std::string& owner) {
    for (const char* name : {"JuliaArtifacts.toml", "Artifacts.toml"}) {
      const fs::path file = dir / name;
      if (!present(file))
        continue;
      const TomlDoc doc = parse_toml_file(file, owner + "/" + name);
      for (const auto& [key, value] : doc.table) {
        if (const toml::table* one = value.as_table())
          artifact(doc, std::string(key.str()), *one, owner);
        else if (const toml::array* several = value.as_array())
          for (const toml::node& v : *several)
            if (const toml::table* entry = v.as_table(); entry && matches(*entry, m_platform))
              artifact(doc, std::string(key.str()), *entry, owner);
      }
      return;
    }
  }

  void artifact(const TomlDoc& doc, const std::string& name, const toml::table& entry,
                const std::string& owner) {
    const toml::node* sha = entry.get("git-tree-sha1");
    if (!sha || !sha->as_string())
      return;
    const std::string sha1 = sha->as_string()->get();
    for (const fs::path& depot : m_env.depots)
      if (const fs::path p = depot / "artifacts" / sha1; present(p)) {
        add({"artifacts/" + sha1, p, fmt::format("artifact \"{}\" ({})", name, owner), doc.where(*sha),
             sha1});
        return;
      }
    const toml::node* lazy = entry.get("lazy");
    if (lazy && lazy->as_boolean() && lazy->as_boolean()->get())
      return; // fetched when first used, by a job that can reach it
    m_out.warnings.push_back(fmt::format("{}: artifact \"{}\" ({}) is in no depot here: every machine would "
                                         "download it; run Pkg.instantiate() here first",
                                         doc.where(*sha), name, owner));
  }

  const Environment& m_env;
  const Platform& m_platform;
  Closure m_out;
};

} // namespace

Closure julia_closure(const Environment& env, const Platform& platform) {
  Collector c(env, platform);
  c.packages();
  return c.done();
}

void verify_closure(const Closure& closure, const std::function<std::string(const DepotUnit&)>& known,
                    const std::function<void(const DepotUnit&, const std::string&)>& verified) {
  for (const DepotUnit& u : closure.units) {
    if (u.tree_sha1.empty())
      continue; // not pinned by a hash (the runtime)
    std::string sha1 = known(u);
    if (sha1.empty()) {
      sha1 = hash::git_tree_sha1(u.source);
      verified(u, sha1);
    }
    if (sha1 != u.tree_sha1)
      throw InputError(fmt::format("{}: {} at {} has the git tree hash {}, not {}: it changed after Pkg "
                                   "installed it; remove it and run Pkg.instantiate() here",
                                   u.where, u.what, u.source.string(), sha1, u.tree_sha1));
  }
}

} // namespace distenv::env
