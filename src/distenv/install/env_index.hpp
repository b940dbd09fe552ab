#pragma once

#include <distenv/hash/hash.hpp>

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <sys/stat.h>

namespace distenv::install {

// The index written beside each installed environment (`<env>.files`), in
// the tree's order: for every entry its type, path, content hash (a
// symlink: of its target), size, whether it is executable, and what its stat
// was once installed (inode and mtime), so that an environment is checked
// before it is used again by one lstat per entry, nothing read: a file
// edited in place (even by root: its mtime changes) is found. It describes
// the whole tree, so a later version can be made from it in place
// (install/assemble.hpp). Indexes of older versions list regular files only
// (index_complete() is false for them).
struct IndexedFile {
  hash::Hash128 content;
  uint64_t size = 0;
  std::string_view path;
  uint64_t inode = 0;
  int64_t mtime_ns = 0; // 0: an index of an older distenv, without stat records
  bool own = false;     // a mutable file: the job may change it, nothing checks it
  hash::EntryType type = hash::EntryType::file;
  bool executable = false;
};

// The record of the installed entry `r` whose lstat is `st`.
IndexedFile indexed(const hash::TreeRecord& r, bool own, const struct stat& st);
// Appends one record to `out`.
void put_indexed(std::string& out, const IndexedFile& file);
// The first bytes of an index with stat records of every entry.
std::string_view index_magic();
// Whether `index` lists every entry of its tree with its mode (this
// version's), so that the tree can be the base of the next version.
bool index_complete(const std::string& index);
// Calls `each` for every record of `index` (either format); a torn index
// ends early.
void for_each_indexed(const std::string& index, const std::function<void(const IndexedFile&)>& each);

int64_t mtime_ns(const struct stat& st);

// What became of the indexed file `f` since its install, from its lstat
// (`found`: the lstat succeeded): "" when it is as recorded (a mutable file:
// when it is there; no stat recorded: always), else "<path>: gone/changed
// since it was installed".
std::string change_of(const IndexedFile& f, bool found, const struct stat& st);

// Whether every file of the environment at `root` is as its index says
// (same inode, size and mtime), but for its mutable files. "" when it is;
// else the first that is not ("alice/sweep/run.jl: changed since it was
// installed"). An index without stat records vouches for nothing and is
// taken as it is.
std::string first_changed(const boost::filesystem::path& root, const std::string& index);

} // namespace distenv::install
