// The store-wide Julia depot: package trees and artifacts, each installed
// once per store, whole or not at all, at the place Julia looks for it.
#include <distenv/install/store.hpp>

#include <distenv/install/assemble.hpp>
#include <distenv/install/env_index.hpp>
#include <distenv/install/file_lock.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::install {

void remove_incoming(const fs::path& dir) {
  boost::system::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(".incoming-", 0) == 0)
      remove_tree(it->path());
}

std::vector<fs::path> incoming_parents(const fs::path& dest) {
  std::vector<fs::path> dirs{dest / "envs", dest / "depot"};
  boost::system::error_code ec;
  for (fs::directory_iterator it(dest / "julia", ec), end; !ec && it != end; it.increment(ec))
    if (it->symlink_status(ec).type() == fs::directory_file)
      dirs.push_back(it->path());
  return dirs;
}

Interrupted interrupted_installs(const fs::path& dest) {
  Interrupted found;
  boost::system::error_code ec;
  for (const fs::path& dir : incoming_parents(dest))
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename().string().rfind(".incoming-", 0) != 0)
        continue;
      ++found.count;
      boost::system::error_code walk;
      for (fs::recursive_directory_iterator f(it->path(), walk), fend; !walk && f != fend; f.increment(walk))
        if (f->symlink_status(walk).type() == fs::regular_file)
          found.bytes += fs::file_size(f->path(), walk);
    }
  return found;
}

void Store::open_depot() {
  open();
  const unsigned mode = m_sharing == Sharing::group ? 0775 : 0755;
  for (const fs::path& dir : {depot_dir(), julia_dir()}) {
    make_directory(dir, mode);
    check_trusted(dir);
  }
}

bool Store::depot_has(const std::string& unit) const {
  struct stat st {};
  return ::lstat((depot_dir() / unit).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Store::Result Store::install_depot(const Listing& listing, const std::vector<std::string>& units,
                                   uint64_t disk_bytes, pack::ChunkSource& source, Objects* objects) {
  open_depot();
  const fs::path depot = fs::canonical(depot_dir());
  const FileLock lock(fs::canonical(envs_dir()) / ".lock", m_lock_timeout);
  remove_incoming(depot);
  boost::system::error_code ec;
  check_free_space(depot, disk_bytes);
  fs::create_directories(objects_dir());
  std::unique_ptr<Objects> own;
  if (!objects) {
    own = std::make_unique<Objects>(objects_dir(), m_link);
    objects = own.get();
  }
  objects->load();
  AtomicDirectory incoming(depot / fmt::format(".incoming-{}", ::getpid()), 0755);
  // The contents it holds, so that gc keeps their objects (contents_in_use):
  // a unit that came once is never sent again.
  std::string index(index_magic());
  const ExtractResult made = install::assemble(listing, source, incoming.dir(), nullptr, *objects,
                                               [&](const IndexedFile& f) { put_indexed(index, f); });
  objects->save();
  Result result;
  result.dir = depot;
  result.tree_hash = made.tree_hash;
  result.bytes_written = made.bytes;
  result.local_files = made.local_files;
  result.local_bytes = made.local_bytes;
  // Each unit appears with one rename, and only where no other job put it
  // first: a directory of a unit's name is always whole.
  bool any = false;
  for (const std::string& unit : units) {
    if (depot_has(unit))
      continue;
    const fs::path from = incoming.dir() / unit, to = depot / unit;
    if (!fs::is_directory(fs::symlink_status(from, ec)))
      throw Error(fmt::format("{}: not in the depot's listing", unit));
    if (!any)
      ::syncfs(Fd(::open(depot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)).get());
    any = true;
    fs::path parent = depot;
    for (const fs::path& part : fs::path(unit).parent_path())
      make_directory(parent /= part, 0755);
    if (::rename(from.c_str(), to.c_str()) != 0)
      throw Error(fmt::format("{}: cannot install: {}", to.string(), errno_text(errno)));
  }
  result.reused = !any;
  if (any) {
    make_directory(depot / ".files", 0755);
    write_file_atomic(depot / ".files" / (hash::hash_bytes(index).hex() + ".files"), index, Durability::none);
  }
  return result;
}

} // namespace distenv::install
