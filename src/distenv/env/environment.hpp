#pragma once

#include <distenv/env/ignore.hpp>
#include <distenv/util/files.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distenv::env {

enum class Kind { julia, generic };

// A TOML string value that holds a path. The shipped copy of `file` gets the
// value rewritten so that it points at `target` inside the install tree.
struct PathRef {
  fs::path file;     // absolute path of the TOML file that holds the value
  std::string where; // "Manifest.toml:12:8" (for messages)
  size_t line = 0;   // 1-based position of the string literal
  size_t column = 0;
  fs::path target;      // canonical absolute directory it resolves to
  std::string original; // the value as written
};

// A package tracked by path (`pkg> dev`): its whole directory ships.
struct DevPackage {
  std::string name;
  std::string uuid;
  fs::path source;      // canonical absolute directory
  std::string declared; // path as written in the manifest / [sources]
  std::string where;    // where it was declared
};

// A package the manifest pins by its git tree (registered, or added by
// URL), which Julia loads from a depot (<depot>/packages/<name>/<slug>).
struct RegisteredPackage {
  std::string name;
  std::string uuid;
  std::string tree_sha1;
  std::string where;                            // the manifest's git-tree-sha1 ("Manifest.toml:12:17")
  std::optional<boost::filesystem::path> found; // in the first depot that has it (env::find_in_depots)
  std::string computed_sha1;                    // the found tree's git tree hash, once verified ("": not yet)
};

// How workers see the environment on every machine. Values may contain the
// placeholders {root} (the install root) and {project} (the installed project).
struct Activation {
  std::vector<std::pair<std::string, std::string>> env;
  std::string runtime;                   // program that must be on PATH ("julia"), or empty
  std::string runtime_hint;              // one line: how to install it
  std::vector<std::string> command;      // default worker command (argv)
  std::vector<std::string> each_machine; // once-per-machine shell commands
  // Files the job brings back from every machine's output directory
  // ($DISTENV_OUTPUT) to the launching machine (globs; util/glob.hpp).
  std::vector<std::string> collect;
};

// What rank 0 reads: everything needed to lay out, hash and pack the tree.
struct Environment {
  Kind kind = Kind::generic;
  fs::path project_dir;               // canonical absolute
  fs::path project_file;              // Julia: Project.toml / JuliaProject.toml
  fs::path manifest_file;             // Julia: the manifest Julia would pick (may be empty)
  std::string manifest_format;        // "1.0", "2.0", ... ("" when no manifest)
  std::vector<fs::path> roots;        // canonical; roots[0] == project_dir; unique
  std::vector<std::string> root_from; // for each root: where it was declared ("distenv.toml:2:9")
  // Single files that ship whatever ignore rules say, without the rest of
  // their directory: a workspace root's project and manifest files, a
  // manifest named by `manifest =` outside the roots, the project file and
  // the chosen manifest even when .gitignore lists them. Canonical, unique.
  std::vector<fs::path> files;
  std::vector<DevPackage> dev_packages;
  // Julia: the manifest's registered packages, and the depots looked in
  // (JULIA_DEPOT_PATH, else ~/.julia). Reported by --plan; not shipped yet.
  std::vector<RegisteredPackage> registered;
  std::vector<fs::path> depots;
  std::vector<PathRef> path_refs;
  IgnoreRules exclude; // from distenv.toml; applies in every root
  // distenv.toml `mutable`: files of the project a job updates in place
  // (gitignore syntax, relative to the project directory): installed as
  // private, writable copies, never links to the store's objects.
  std::vector<std::string> mutable_patterns;
  bool gitignore = true;      // roots inside a git work tree leave out what git ignores
  bool allow_secrets = false; // ship private keys and credential files found in the roots
  // Directories never shipped, wherever they are found in the roots (the
  // store itself, when --dest lies inside the project).
  std::vector<fs::path> never_ship;
  // Julia: packages nested in a root that the environment does not use stay
  // home (a monorepo's other packages); off with --test-deps.
  bool leave_out_unused_packages = false;
  // ... except in the roots distenv.toml names, which ship whole (a
  // directory of packages such as a depot's packages/ or a vendored set).
  std::vector<fs::path> whole_roots;
  // A symlink to a file outside every root ships as that file (a shipped
  // runtime's link to a library of the system's), instead of being refused.
  bool follow_outside_links = false;
  // Julia: the project lists [deps] but has no manifest (Pkg.instantiate()
  // would resolve one).
  bool needs_resolve = false;
  Activation activation;
  std::vector<std::string> warnings; // one line each, for --plan and the job's stderr
};

struct ReadOptions {
  fs::path project_dir;
  std::optional<std::pair<int, int>> julia_version; // (major, minor)
  bool test_deps = false;                           // Julia: follow [sources] of test-only [extras] too
  bool gitignore = true;
  bool allow_secrets = false;
  bool instantiate = false; // Julia: a project without its manifest will be resolved first
};

// Reads the environment at `options.project_dir`. Bad input throws InputError
// with a one-line message naming the file (and line:column) and the problem.
Environment read_environment(const ReadOptions& options);

// Adds `dir` (canonical) to env.roots unless it is there, remembering that
// `where` declared it (as `declared`). A root that would ship far more than
// an environment is refused (InputError naming `where`): the whole file
// system, a home directory (ssh keys, shell history, ...) or a directory
// holding home directories.
void add_root(Environment& env, const fs::path& dir, const std::string& where, const std::string& declared);

// The checks of add_root alone.
void check_root(const fs::path& dir, const std::string& where, const std::string& declared);

// Adds one file (canonical) to env.files unless it is there.
void add_file(Environment& env, const fs::path& file);

// "1.10" -> (1, 10); nullopt when malformed.
std::optional<std::pair<int, int>> parse_julia_version(const std::string& text);

} // namespace distenv::env
