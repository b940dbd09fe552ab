#pragma once

#include <distenv/env/environment.hpp>
#include <distenv/hash/hash.hpp>
#include <distenv/layout/metadata.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distenv::hash {
class HashCache;
}

namespace distenv::layout {

using hash::EntryType;

// One thing that ships, at its place in the install tree.
struct FileEntry {
  std::string path; // relative to the install root, '/'-separated
  EntryType type = EntryType::file;
  uint32_t mode = 0644;
  uint64_t size = 0;
  int64_t mtime = 0;
  fs::path source;                    // where the bytes come from ...
  std::optional<std::string> content; // ... unless they were rewritten here
  std::string link_target;
  hash::Hash128 hash;
  bool hashed = false;       // `hash` is known already (from the hash cache)
  bool mutable_file = false; // distenv.toml `mutable`: a private, writable copy on every machine

  hash::TreeRecord record() const { return {path, type, mode, size, hash}; }
};

// Where every source directory goes: the roots are mirrored under one prefix,
// so relative paths between them keep working, and the common ancestor keeps
// its name (/home/u/{proj,dev/Foo} -> u/proj, u/dev/Foo).
struct Layout {
  fs::path prefix;     // source directory that maps to the install root
  std::string project; // install-relative path of the project directory
  // Roots placed at a path of their own instead of below `prefix` (a
  // depot's packages/<name>/<slug>, wherever each was found).
  std::vector<std::pair<fs::path, std::string>> placed;

  // Install-relative, '/'-separated path of a source path below `prefix`.
  std::string to_install(const fs::path& source) const;
};

Layout make_layout(const env::Environment& env);

// A path value that was rewritten in a shipped TOML file.
struct RewrittenPath {
  std::string file; // install-relative path of the TOML file
  std::string where;
  std::string original;
  std::string rewritten;
  std::string target; // install-relative directory it resolves to
};

// Everything that ships, sorted by path, with its identity.
struct Tree {
  std::vector<FileEntry> entries;
  std::vector<RewrittenPath> rewritten;
  uint64_t files = 0; // regular files and symlinks
  uint64_t bytes = 0; // their content bytes
  hash::Hash128 tree_hash;
  Metadata metadata;                 // also shipped as k_metadata_path
  std::vector<std::string> warnings; // from the walk (a .gitignore that could not be applied)
  std::vector<std::string> left_out; // Julia packages inside a root that the environment does not use
};

// The file that tells every machine how to activate the installed tree.
inline constexpr const char* k_metadata_path = ".distenv/environment.json";

// Walks the roots (ignore rules, what git ignores, no .git; private keys and
// credential files refused), adds env.files wherever they are, rewrites the TOML path values,
// adds the activation metadata and hashes every file (`threads` readers).
Tree build_tree(const env::Environment& env, const Layout& layout, unsigned threads = 2,
                hash::HashCache* cache = nullptr);

// Hashes the walked entries (`threads` readers), sorts them, and counts
// and names the tree (files, bytes, tree_hash).
void finish_tree(Tree& tree, unsigned threads, hash::HashCache* cache);

// Adds a directory entry (0755) for every directory above the tree's
// entries that has none: a tree of chosen files made whole (caches, outputs).
void add_parent_directories(Tree& tree);

// The walk of build_tree alone: env's roots (placed by `layout`) as they
// are, with no rewrites and no metadata.
Tree walk_tree(const env::Environment& env, const Layout& layout, unsigned threads = 2,
               hash::HashCache* cache = nullptr);

} // namespace distenv::layout
