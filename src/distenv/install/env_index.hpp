#pragma once

#include <distenv/hash/hash.hpp>

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <sys/stat.h>

namespace distenv::install {

// The index written beside each installed environment (`<env>.files`): for
// every regular file its content hash, size, path, and what its stat was
// once installed (inode and mtime), so that an environment is checked
// before it is used again by one lstat per file, nothing read: a file
// edited in place (even by root: its mtime changes) is found.
struct IndexedFile {
  hash::Hash128 content;
  uint64_t size = 0;
  std::string_view path;
  uint64_t inode = 0;
  int64_t mtime_ns = 0; // 0: an index of an older distenv, without stat records
  bool own = false;     // a mutable file: the job may change it, nothing checks it
};

// Appends one record to `out`.
void put_indexed(std::string& out, const IndexedFile& file);
// The first bytes of an index with stat records.
std::string_view index_magic();
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
