// Building the tree that ships: walk the roots, apply ignore rules, rewrite the
// TOML path values, add the activation metadata, hash every file.
#include <distenv/layout/layout.hpp>

#include <distenv/hash/hash_cache.hpp>

#include <distenv/env/julia.hpp>
#include <distenv/layout/generated.hpp>
#include <distenv/layout/rewrite.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/paths.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <unordered_set>

namespace distenv::layout {

namespace {

class Walker {
public:
  Walker(const env::Environment& env, const Layout& layout, Tree& tree, hash::HashCache* cache)
      : m_env(env), m_layout(layout), m_tree(tree), m_cache(cache) {
    for (const fs::path& dir : env.never_ship)
      if (struct stat d{}; ::stat(dir.c_str(), &d) == 0)
        m_never.emplace_back(d.st_dev, d.st_ino);
  }

  void walk_all() {
    // The directories between the install root and each root ship too, so
    // the installed tree is exactly what the tree hash describes.
    std::set<fs::path> parents;
    for (const fs::path& root : m_env.roots)
      for (fs::path p = root.parent_path(); p != m_layout.prefix && is_within(p, m_layout.prefix);
           p = p.parent_path())
        if (parents.insert(p).second) {
          struct stat st {};
          stat_or_throw(p, st);
          add_dir(p, st);
        }
    // A placed root's parents have no source (nor an mtime).
    for (const auto& placed : m_layout.placed) {
      const std::string& path = placed.second;
      const struct stat st {};
      for (size_t at = path.find('/'); at != std::string::npos; at = path.find('/', at + 1))
        add_dir(path.substr(0, at), st);
    }
    for (const fs::path& root : m_env.roots) {
      env::IgnoreRules rules = m_env.exclude;
      const fs::path ignore_file = root / ".distenvignore";
      boost::system::error_code ec;
      if (fs::is_regular_file(ignore_file, ec))
        rules.add_lines(read_input(ignore_file));
      std::optional<std::unordered_set<std::string>> git;
      if (m_env.gitignore) {
        std::string warning;
        git = env::git_ignored(root, warning);
        if (!warning.empty())
          m_tree.warnings.push_back(std::move(warning));
      }
      if (!m_env.allow_secrets) // a root that is itself a secret (~/.ssh as a dev path, or in distenv.toml)
        if (const char* what =
                secret_kind(root.filename().string(), true, root.parent_path().filename().string()))
          throw InputError(fmt::format("{}: {}: it would be copied to every machine of the job; pass "
                                       "--allow-secrets if that is meant",
                                       shown(root), what));
      struct stat st {};
      stat_or_throw(root, st);
      add_dir(root, st);
      m_leave_out =
          m_env.leave_out_unused_packages &&
          std::find(m_env.whole_roots.begin(), m_env.whole_roots.end(), root) == m_env.whole_roots.end();
      walk(root, "", m_layout.to_install(root), rules, git ? &*git : nullptr);
    }
    add_single_files();
  }

private:
  std::string shown(const fs::path& p) const { return env::display_path(p, m_env.project_dir); }

  bool never_shipped(const struct stat& st) const {
    return std::find(m_never.begin(), m_never.end(), std::make_pair(st.st_dev, st.st_ino)) != m_never.end();
  }

  std::string read_input(const fs::path& p) {
    try {
      return read_file(p);
    } catch (const Error& e) {
      throw InputError(e.what());
    }
  }

  void stat_or_throw(const fs::path& p, struct stat& st) const {
    if (::lstat(p.c_str(), &st) != 0)
      throw InputError(fmt::format("{}: {}", p.string(), errno_text(errno)));
  }

  bool is_other_root(const fs::path& dir) const {
    return std::find(m_env.roots.begin(), m_env.roots.end(), dir) != m_env.roots.end();
  }

  void add_dir(const fs::path& p, const struct stat& st) { add_dir(m_layout.to_install(p), st); }
  void add_dir(std::string installed, const struct stat& st) {
    FileEntry e;
    e.path = std::move(installed);
    e.type = EntryType::directory;
    e.mode = 0755;
    e.mtime = st.st_mtime;
    m_tree.entries.push_back(std::move(e));
  }

  // `dir` is `rel` below its root (for the ignore rules) and `installed`
  // below the install root. Entries are stat'ed relative to the directory's
  // descriptor (no lookup from / per file), and a regular file whose stat the
  // hash cache knows gets its hash here, with no further system call.
  void walk(const fs::path& dir, const std::string& rel, const std::string& installed,
            const env::IgnoreRules& rules, const std::unordered_set<std::string>* git) {
    Fd owned(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    DIR* d = owned ? ::fdopendir(owned.get()) : nullptr;
    if (!d)
      throw InputError(fmt::format("{}: {}", dir.string(), errno_text(errno)));
    const int fd = owned.release(); // the DIR owns it now
    std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
    for (;;) {
      errno = 0;
      const struct dirent* de = ::readdir(d);
      if (!de) {
        if (errno)
          throw InputError(fmt::format("{}: {}", dir.string(), errno_text(errno)));
        break;
      }
      const std::string_view name = de->d_name;
      if (name == "." || name == ".." || name == ".git")
        continue; // .git: a repository or a submodule's .git file
      const fs::path p = dir / de->d_name;
      struct stat st {};
      if (::fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        throw InputError(fmt::format("{}: {}", p.string(), errno_text(errno)));
      const bool is_dir = S_ISDIR(st.st_mode);
      if (is_dir && is_other_root(p))
        continue; // a nested root ships on its own, with its own ignore file
      const std::string child_rel = join(rel, name);
      if (rules.ignored(child_rel, is_dir) || (git && git->count(is_dir ? child_rel + "/" : child_rel)))
        continue;
      if (!m_env.allow_secrets)
        if (const char* what = secret_kind(name, is_dir, rel))
          throw InputError(fmt::format("{}: {}: it would be copied to every machine of the job; leave it out "
                                       "(.distenvignore, or exclude in distenv.toml) or pass --allow-secrets",
                                       shown(p), what));
      std::string child_installed = join(installed, name);
      if (is_dir && never_shipped(st)) {
        m_tree.warnings.push_back(
            fmt::format("{}: the store (--dest) lies inside the environment: left out", shown(p)));
        continue;
      }
      if (is_dir) {
        if (m_leave_out && unused_package(fd, de->d_name)) {
          m_tree.left_out.push_back(shown(p));
          continue;
        }
        add_dir(child_installed, st);
        walk(p, child_rel, child_installed, rules, git);
      } else if (S_ISREG(st.st_mode)) {
        add_file(p, std::move(child_installed), st);
      } else if (S_ISLNK(st.st_mode)) {
        add_symlink(p, child_installed, st);
      } else {
        const char* what = S_ISFIFO(st.st_mode)   ? "a named pipe"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "a device file";
        throw InputError(fmt::format("{}: {} cannot ship; add it to .distenvignore", shown(p), what));
      }
    }
  }

  void add_file(const fs::path& p, std::string installed, const struct stat& st) {
    FileEntry e;
    e.path = std::move(installed);
    e.type = EntryType::file;
    e.mode = (st.st_mode & 0111) ? 0755 : 0644;
    e.size = static_cast<uint64_t>(st.st_size);
    e.mtime = st.st_mtime;
    e.source = p;
    if (m_cache)
      if (const auto h = m_cache->known(st)) {
        e.hash = *h;
        e.hashed = true;
      }
    m_tree.entries.push_back(std::move(e));
  }

  // A Julia package inside a root that the environment does not use (not a
  // dev package, not a root): Julia cannot load it from there, so it stays
  // home (a monorepo's other packages). distenv.toml `roots` ships one anyway.
  static bool unused_package(int dir_fd, const char* name) {
    for (const char* file : {"JuliaProject.toml", "Project.toml"}) {
      const std::string rel = std::string(name) + "/" + file;
      struct stat st {};
      if (::fstatat(dir_fd, rel.c_str(), &st, 0) != 0 || !S_ISREG(st.st_mode))
        continue;
      const Fd fd(::openat(dir_fd, rel.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd)
        return false;
      std::string text(static_cast<size_t>(std::min<off_t>(st.st_size, 1 << 20)), '\0');
      const ssize_t n = read_fully(fd.get(), text.data(), text.size());
      text.resize(n > 0 ? static_cast<size_t>(n) : 0);
      toml::table t;
      try {
        t = toml::parse(text);
      } catch (const toml::parse_error&) {
        return false; // not ours to judge: it ships
      }
      return t.get("name") && t.get("name")->is_string() && t.get("uuid") && t.get("uuid")->is_string();
    }
    return false;
  }

  // env.files the walk did not ship (outside every root, or left out by
  // ignore rules), with the directories above them.
  void add_single_files() {
    std::unordered_set<std::string> present;
    for (const FileEntry& e : m_tree.entries)
      present.insert(e.path);
    for (const fs::path& file : m_env.files) {
      std::string installed = m_layout.to_install(file);
      if (present.count(installed))
        continue;
      std::vector<fs::path> parents;
      for (fs::path p = file.parent_path(); p != m_layout.prefix && is_within(p, m_layout.prefix);
           p = p.parent_path())
        parents.push_back(p);
      for (auto it = parents.rbegin(); it != parents.rend(); ++it)
        if (present.insert(m_layout.to_install(*it)).second) {
          struct stat st {};
          stat_or_throw(*it, st);
          add_dir(*it, st);
        }
      struct stat st {};
      stat_or_throw(file, st);
      if (!S_ISREG(st.st_mode))
        throw InputError(fmt::format("{}: not a regular file", file.string()));
      present.insert(installed);
      add_file(file, std::move(installed), st);
    }
  }

  // Private keys and credentials that should never be copied to a cluster
  // by accident (the walk refuses them unless --allow-secrets).
  static const char* secret_kind(std::string_view name, bool is_dir, std::string_view parent_rel) {
    if (is_dir) {
      if (name == ".ssh")
        return "an ssh directory (private keys)";
      if (name == ".gnupg")
        return "a GnuPG directory (private keys)";
      if (name == ".aws" || name == ".azure")
        return "a cloud credentials directory";
      if (name == "gcloud" && (parent_rel == ".config" || parent_rel.ends_with("/.config")))
        return "a cloud credentials directory";
      return nullptr;
    }
    for (std::string_view key :
         {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"})
      if (name == key)
        return "an ssh private key";
    if (name == ".netrc" || name == ".git-credentials" || name == ".pgpass" || name == ".pypirc")
      return "a credentials file";
    if (name == "application_default_credentials.json")
      return "a cloud credentials file";
    return nullptr;
  }

  static std::string join(const std::string& dir, std::string_view name) {
    std::string out;
    out.reserve(dir.size() + 1 + name.size());
    out += dir;
    if (!out.empty())
      out += '/';
    out += name;
    return out;
  }

  bool inside_roots(const fs::path& p) const {
    return std::any_of(m_env.roots.begin(), m_env.roots.end(),
                       [&](const fs::path& r) { return is_within(p, r); });
  }

  void add_symlink(const fs::path& p, const std::string& installed, const struct stat& st) {
    boost::system::error_code ec;
    fs::path target = fs::read_symlink(p, ec);
    if (ec)
      throw InputError(fmt::format("{}: {}", p.string(), errno_text(ec.value())));
    const fs::path resolved = (target.is_absolute() ? target : p.parent_path() / target).lexically_normal();
    if (!inside_roots(resolved) && m_env.follow_outside_links) {
      struct stat target_st {};
      const fs::path real = fs::canonical(resolved, ec);
      if (!ec && ::stat(real.c_str(), &target_st) == 0 && S_ISREG(target_st.st_mode))
        return add_file(real, installed, target_st);
    }
    if (!inside_roots(resolved))
      throw InputError(fmt::format("{}: symlink to {} points outside the environment; add it to "
                                   ".distenvignore or ship its target (distenv.toml roots)",
                                   shown(p), target.string()));
    // An absolute link into the environment becomes relative, so that it
    // still points into the tree wherever the tree is installed.
    std::string link =
        target.is_absolute() ? generic(resolved.lexically_relative(p.parent_path())) : generic(target);
    if (std::string why = symlink_problem(installed, link); !why.empty())
      throw InputError(fmt::format("{}: symlink to {}: {}; add it to .distenvignore or point it "
                                   "straight at its target",
                                   shown(p), target.string(), why));
    FileEntry e;
    e.path = installed;
    e.type = EntryType::symlink;
    e.mode = 0777;
    e.size = link.size();
    e.mtime = st.st_mtime;
    e.link_target = link;
    e.hash = hash::hash_bytes(link);
    m_tree.entries.push_back(std::move(e));
  }

  const env::Environment& m_env;
  const Layout& m_layout;
  Tree& m_tree;
  hash::HashCache* m_cache;
  std::vector<std::pair<dev_t, ino_t>> m_never; // never_ship, by identity
  bool m_leave_out = false;                     // in the root being walked: unused packages stay home
};

} // namespace

Tree walk_tree(const env::Environment& env, const Layout& layout, unsigned threads, hash::HashCache* cache) {
  Tree tree;
  Walker(env, layout, tree, cache).walk_all();
  finish_tree(tree, threads, cache);
  return tree;
}

Tree build_tree(const env::Environment& env, const Layout& layout, unsigned threads, hash::HashCache* cache) {
  Tree tree;
  Walker(env, layout, tree, cache).walk_all();
  apply_rewrites(env, layout, tree);
  mark_mutable(env, layout, tree);

  FileEntry meta_dir;
  meta_dir.path = ".distenv";
  meta_dir.type = EntryType::directory;
  meta_dir.mode = 0755;
  tree.entries.push_back(meta_dir);
  tree.metadata = make_metadata(env, layout);
  set_file(tree, k_metadata_path, to_json(tree.metadata));
  finish_tree(tree, threads, cache);
  return tree;
}

} // namespace distenv::layout
