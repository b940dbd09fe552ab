// Garbage collection: environments not used lately, objects none uses.
#include <distenv/install/store.hpp>

#include <distenv/install/env_index.hpp>
#include <distenv/install/file_lock.hpp>
#include <distenv/install/slot.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace distenv::install {

namespace {

// "<32 hex>" or "<32 hex>.w": an environment's directory name.
std::optional<hash::Hash128> env_name(const std::string& name) {
  if (name.size() == 34 && name.compare(32, 2, ".w") == 0)
    return hash::Hash128::from_hex(name.substr(0, 32));
  return name.size() == 32 ? hash::Hash128::from_hex(name) : std::nullopt;
}

} // namespace

std::unordered_set<hash::Hash128> Store::contents_in_use() const {
  std::unordered_set<hash::Hash128> used;
  // Every environment's index, and the depot's (install/depot.cpp).
  std::vector<fs::path> indexes;
  boost::system::error_code ec;
  for (const fs::path& dir : {envs_dir(), depot_dir() / ".files"})
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename().string().ends_with(".files"))
        indexes.push_back(it->path());
  for (const fs::path& file : indexes) {
    std::string index;
    try {
      index = read_file(file, uint64_t(1) << 30, Follow::no);
    } catch (const Error&) {
      continue;
    }
    for_each_indexed(index, [&](const IndexedFile& f) {
      if (f.type == hash::EntryType::file)
        used.insert(f.content);
    });
  }
  return used;
}

Store::Collected Store::collect(size_t keep, bool dry_run) {
  Collected result;
  boost::system::error_code ec;
  if (!fs::is_directory(envs_dir(), ec))
    return result;
  check_trusted(m_dest);
  check_trusted(envs_dir());
  FileLock lock(envs_dir() / ".lock", m_lock_timeout); // no install runs meanwhile
  // What interrupted installs left: every install holds the lock, so none
  // of these is being written now.
  result.interrupted = interrupted_installs(m_dest);
  if (!dry_run)
    for (const fs::path& dir : incoming_parents(m_dest))
      remove_incoming(dir);
  result.bytes_freed += result.interrupted.bytes;
  result.outputs = collect_outputs(keep, dry_run);
  struct Env {
    std::string name;
    int64_t used; // ns since the epoch
  };
  std::vector<Env> envs;
  for (fs::directory_iterator it(envs_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (env_name(name) && fs::is_directory(it->path(), ec))
      envs.push_back({name, last_used_ns(envs_dir(), name)});
  }
  std::sort(envs.begin(), envs.end(),
            [](const Env& a, const Env& b) { return a.used != b.used ? a.used > b.used : a.name < b.name; });
  for (size_t i = 0; i < envs.size(); ++i) {
    const fs::path dir = envs_dir() / envs[i].name;
    if (i < keep) {
      result.kept.push_back(envs[i].name);
      continue;
    }
    const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd)
      continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) { // a job is using it
      result.busy.push_back(envs[i].name);
      continue;
    }
    if (dry_run) {
      for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (fs::is_regular_file(it->symlink_status()))
          result.bytes_freed += fs::file_size(it->path(), ec);
      result.removed.push_back(envs[i].name);
      result.removed_used.push_back(static_cast<std::time_t>(envs[i].used / 1'000'000'000));
      continue;
    }
    // Disappear at once under a name no run trusts, then delete.
    const fs::path trash = envs_dir() / fmt::format(".incoming-gc-{}-{}", envs[i].name, ::getpid());
    if (::rename(dir.c_str(), trash.c_str()) == 0) {
      ::unlink((envs_dir() / (envs[i].name + ".files")).c_str());
      ::unlink((envs_dir() / ".used" / envs[i].name).c_str());
      for (fs::recursive_directory_iterator it(trash, ec), end; !ec && it != end; it.increment(ec))
        if (fs::is_regular_file(it->symlink_status()))
          result.bytes_freed += fs::file_size(it->path(), ec);
      remove_tree(trash);
      result.removed.push_back(envs[i].name);
      result.removed_used.push_back(static_cast<std::time_t>(envs[i].used / 1'000'000'000));
    }
  }
  collect_slots(*this);
  // The objects no environment uses any more, unless a job counts on them
  // (from its check to the end of its install).
  Objects objects(objects_dir(), m_link);
  if (!fs::is_directory(objects_dir(), ec))
    return result;
  if (!objects.try_exclusive()) {
    result.objects_busy = true;
    return result;
  }
  objects.load();
  result.object_bytes_freed = objects.collect(contents_in_use(), dry_run);
  result.bytes_freed += result.object_bytes_freed;
  if (!dry_run)
    objects.save();
  return result;
}

} // namespace distenv::install
