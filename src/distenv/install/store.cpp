// The node-local store: atomic, verified, locked installs of whole trees.
#include <distenv/install/store.hpp>

#include <distenv/install/file_lock.hpp>
#include <distenv/pack/archive_reader.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/units.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <algorithm>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <random>
#include <sys/statvfs.h>
#include <unistd.h>

namespace distenv::install {

namespace {

void remove_tree(const fs::path& dir) {
  boost::system::error_code ec;
  fs::remove_all(dir, ec); // best effort: the name says it is never trusted
}

// Flush the file system before the rename makes the install visible, so that
// a crash cannot leave a complete-looking install with empty files.
void sync_filesystem(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  ::syncfs(fd);
  ::close(fd);
}

// Removes a temporary directory unless commit() is called.
class Incoming {
public:
  explicit Incoming(fs::path dir) : m_dir(std::move(dir)) {}
  ~Incoming() {
    if (!m_committed)
      remove_tree(m_dir);
  }
  const fs::path& dir() const { return m_dir; }
  void commit() { m_committed = true; }

private:
  fs::path m_dir;
  bool m_committed = false;
};

} // namespace

void check_free_space(const fs::path& dir, uint64_t bytes) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0)
    throw Error(fmt::format("{}: {}", dir.string(), errno_text(errno)));
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes < bytes)
    throw Error(fmt::format("not enough space in {}: need {}, {} free", dir.string(),
                            human_bytes(bytes), human_bytes(free_bytes)));
}

bool Store::has(const hash::Hash128& tree) const {
  boost::system::error_code ec;
  return fs::is_directory(path_of(tree), ec);
}

Store::InUse::InUse(const Store& store, const hash::Hash128& tree) {
  const fs::path dir = store.path_of(tree);
  m_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (m_fd < 0)
    throw Error(fmt::format("{}: {}", dir.string(), errno_text(errno)));
  while (::flock(m_fd, LOCK_SH) != 0 && errno == EINTR) {
  }
  ::futimens(m_fd, nullptr); // last used: now
}

Store::InUse::~InUse() {
  if (m_fd >= 0)
    ::close(m_fd);
}

Store::Collected Store::collect(size_t keep) {
  Collected result;
  boost::system::error_code ec;
  if (!fs::is_directory(envs_dir(), ec))
    return result;
  FileLock lock(envs_dir() / ".lock"); // no install runs meanwhile
  struct Env {
    std::string name;
    std::time_t used;
  };
  std::vector<Env> envs;
  for (fs::directory_iterator it(envs_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (hash::Hash128::from_hex(name) && fs::is_directory(it->path(), ec))
      envs.push_back({name, fs::last_write_time(it->path(), ec)});
  }
  std::sort(envs.begin(), envs.end(), [](const Env& a, const Env& b) {
    return a.used != b.used ? a.used > b.used : a.name < b.name;
  });
  for (size_t i = 0; i < envs.size(); ++i) {
    const fs::path dir = envs_dir() / envs[i].name;
    if (i < keep) {
      result.kept.push_back(envs[i].name);
      continue;
    }
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) { // a job is using it
      ::close(fd);
      result.busy.push_back(envs[i].name);
      continue;
    }
    // Disappear at once under a name no run trusts, then delete.
    const fs::path trash = envs_dir() / fmt::format(".incoming-gc-{}-{}", envs[i].name, ::getpid());
    if (::rename(dir.c_str(), trash.c_str()) == 0) {
      for (fs::recursive_directory_iterator it(trash, ec), end; !ec && it != end; it.increment(ec))
        if (fs::is_regular_file(it->symlink_status()))
          result.bytes_freed += fs::file_size(it->path(), ec);
      remove_tree(trash);
      result.removed.push_back(envs[i].name);
    }
    ::close(fd);
  }
  return result;
}

std::string Store::identity() {
  boost::system::error_code ec;
  fs::create_directories(envs_dir(), ec);
  if (ec)
    throw Error(fmt::format("{}: cannot create: {}", envs_dir().string(), errno_text(ec.value())));
  const fs::path id_file = envs_dir() / ".store-id";
  if (!fs::exists(id_file, ec)) {
    std::random_device rd;
    const std::string id = fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
    const fs::path tmp = envs_dir() / fmt::format(".store-id.{}.{}", host_name(), ::getpid());
    write_file(tmp, id + "\n");
    // link() fails if another machine made the id first: theirs stays.
    if (::link(tmp.c_str(), id_file.c_str()) != 0 && errno != EEXIST) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw Error(fmt::format("{}: cannot create: {}", id_file.string(), errno_text(err)));
    }
    ::unlink(tmp.c_str());
  }
  std::string id = read_file(id_file);
  while (!id.empty() && (id.back() == '\n' || id.back() == ' '))
    id.pop_back();
  return id;
}

uint64_t Store::block_size() const {
  struct statvfs vfs {};
  fs::path p = m_dest;
  while (::statvfs(p.c_str(), &vfs) != 0 && p.has_parent_path() && p != p.root_path())
    p = p.parent_path(); // the store may not exist yet
  return vfs.f_frsize ? vfs.f_frsize : 4096;
}

Store::Result Store::install(std::optional<hash::Hash128> expected, uint64_t disk_bytes,
                             pack::ChunkSource& source) {
  Result result;
  if (expected && has(*expected)) {
    result.dir = path_of(*expected);
    result.reused = true;
    result.tree_hash = *expected;
    return result;
  }
  boost::system::error_code ec;
  fs::create_directories(envs_dir(), ec);
  if (ec)
    throw Error(fmt::format("{}: cannot create: {}", envs_dir().string(), errno_text(ec.value())));
  const fs::path envs = fs::canonical(envs_dir());

  FileLock lock(envs / ".lock");
  if (expected && has(*expected)) { // another installer finished while we waited
    result.dir = path_of(*expected);
    result.reused = true;
    result.tree_hash = *expected;
    return result;
  }
  // Holding the lock, no other installer runs on this store: whatever is
  // still incoming was left by a crashed one.
  for (fs::directory_iterator it(envs, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(".incoming-", 0) == 0)
      remove_tree(it->path());

  check_free_space(envs, disk_bytes);

  const std::string tag = expected ? expected->hex() : "unknown";
  Incoming incoming(envs / fmt::format(".incoming-{}-{}", tag, ::getpid()));
  if (!fs::create_directory(incoming.dir(), ec) || ec)
    throw Error(fmt::format("{}: cannot create: {}", incoming.dir().string(),
                            errno_text(ec ? ec.value() : EEXIST)));

  pack::ExtractResult extracted = pack::extract(source, incoming.dir());
  if (expected && !(extracted.tree_hash == *expected))
    throw Error(fmt::format("received environment does not match its hash: expected {}, got {}",
                            expected->hex(), extracted.tree_hash.hex()));
  result.tree_hash = extracted.tree_hash;
  result.dir = path_of(extracted.tree_hash);
  result.bytes_written = extracted.bytes;
  if (!expected && has(extracted.tree_hash)) {
    result.reused = true;
    return result; // Incoming removes the duplicate
  }
  sync_filesystem(incoming.dir());
  if (::rename(incoming.dir().c_str(), result.dir.c_str()) != 0)
    throw Error(fmt::format("cannot rename {} to {}: {}", incoming.dir().string(),
                            result.dir.string(), errno_text(errno)));
  incoming.commit();
  return result;
}

} // namespace distenv::install
