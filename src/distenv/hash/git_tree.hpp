#pragma once

#include <distenv/hash/hash.hpp>

#include <boost/filesystem/path.hpp>

#include <string>
#include <utility>
#include <vector>

namespace distenv::hash {

// Git's tree hash of the directory `dir`, as Julia's package manager
// computes a package's `git-tree-sha1` (Pkg.GitTools.tree_hash): SHA-1 of
// git's tree objects, entries sorted as git sorts them (a directory as its
// name and "/"), `.git` skipped, a directory with no file anywhere below it
// skipped (git cannot hold one), a file's mode by its owner's execute bit
// (100755, else 100644), a symlink (120000) by its target. 40 lowercase hex
// digits. Error naming the path when something cannot be read; InputError for
// what git cannot hold (a FIFO, a device, a socket).
std::string git_tree_sha1(const boost::filesystem::path& dir);

} // namespace distenv::hash

namespace distenv::hash {

// Git tree hashes computed before, by what the tree holds: the key is a
// digest of its entries' names, types, modes and content hashes (from the
// stat-keyed hash cache), so a tree read again with the same contents is
// not hashed again, and a changed one never matches. One line per tree in
// `file` ("<key> <sha1>"), the newest 4096 kept; a file that cannot be read
// is an empty cache.
class GitTreeCache {
public:
  explicit GitTreeCache(boost::filesystem::path file);
  std::string known(const Hash128& key) const; // "" when not
  void add(const Hash128& key, const std::string& sha1);
  void save(); // best effort: only an optimisation

private:
  boost::filesystem::path m_file;
  std::vector<std::pair<Hash128, std::string>> m_lines;
  bool m_changed = false;
};

} // namespace distenv::hash
