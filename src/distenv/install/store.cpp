// The node-local store: atomic, verified, locked installs of whole trees.
#include <distenv/install/store.hpp>

#include <distenv/install/env_index.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/install/file_lock.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/atomic_file.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/space.hpp>
#include <distenv/util/units.hpp>
#include <distenv/util/varint.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <pwd.h>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::install {

namespace {

std::string user_name(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
    return found->pw_name;
  return "uid " + std::to_string(uid);
}

} // namespace

void make_directory(const fs::path& dir, unsigned mode) {
  if (::mkdir(dir.c_str(), mode) == 0) {
    ::chmod(dir.c_str(), mode);
    return;
  }
  if (errno != EEXIST)
    throw Error(fmt::format("{}: cannot create: {}", dir.string(), errno_text(errno)));
}

void check_free_space(const fs::path& dir, uint64_t bytes) {
  const uint64_t free_bytes = space_at(dir).available;
  if (free_bytes < bytes)
    throw Error(fmt::format("not enough space in {}: need {}, {} free", dir.string(), human_bytes(bytes),
                            human_bytes(free_bytes)));
}

void Store::check_trusted(const fs::path& dir) const {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    throw Error(fmt::format("{}: {}", dir.string(), errno_text(errno)));
  if (S_ISLNK(st.st_mode) && dir != m_dest)
    throw InputError(
        fmt::format("{}: a symlink where the store keeps a directory: another user may have put it "
                    "there; remove it",
                    dir.string()));
  if (S_ISLNK(st.st_mode)) { // --dest may be a symlink of ours to the real place
    if (st.st_uid != ::geteuid() && st.st_uid != 0)
      throw InputError(
          fmt::format("{}: a symlink owned by {}, not by you or root: another user may have put it "
                      "there; remove it, or choose another --dest",
                      dir.string(), user_name(st.st_uid)));
    if (::stat(dir.c_str(), &st) != 0)
      throw Error(fmt::format("{}: {}", dir.string(), errno_text(errno)));
  }
  if (!S_ISDIR(st.st_mode))
    throw InputError(fmt::format("{}: not a directory", dir.string()));
  const bool group = m_sharing == Sharing::group;
  struct stat top {};
  if (group && ::stat(m_dest.c_str(), &top) != 0)
    throw Error(fmt::format("{}: {}", m_dest.string(), errno_text(errno)));
  const bool owner_ok = st.st_uid == ::geteuid() || st.st_uid == 0 || (group && st.st_gid == top.st_gid);
  if (!owner_ok)
    throw InputError(fmt::format("{}: owned by {}, not by you or root: another user may have put it there; "
                                 "remove it, or choose another --dest{}",
                                 dir.string(), user_name(st.st_uid),
                                 group ? " (a shared store trusts members of its group)" : ""));
  const mode_t others = group ? S_IWOTH : (S_IWGRP | S_IWOTH);
  if (st.st_mode & others)
    throw InputError(fmt::format("{}: writable by others (mode {:04o}): another user could change what your "
                                 "jobs run; chmod {} {}{}",
                                 dir.string(), st.st_mode & 07777, group ? "o-w" : "go-w", dir.string(),
                                 group ? "" : ", or pass --shared-store if your group shares this store"));
  if (group && st.st_gid != top.st_gid)
    throw InputError(fmt::format("{}: group {} differs from the shared store's; chgrp it, or remove it",
                                 dir.string(), st.st_gid));
}

void Store::open() {
  boost::system::error_code ec;
  fs::path real = fs::absolute(m_dest);
  // The directories above: none may let someone else swap ours away.
  for (fs::path p = real.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IWOTH) &&
        !(st.st_mode & S_ISVTX))
      throw InputError(
          fmt::format("{}: {} is writable by everyone without the sticky bit: another user could "
                      "replace the store; choose another --dest",
                      m_dest.string(), p.string()));
    if (p == p.root_path())
      break;
  }
  if (!fs::exists(fs::symlink_status(m_dest, ec))) {
    fs::create_directories(real.parent_path(), ec);
    make_directory(m_dest, m_sharing == Sharing::group ? 0770 : 0700);
  }
  check_trusted(m_dest);
  make_directory(envs_dir(), m_sharing == Sharing::group ? 0775 : 0755);
  check_trusted(envs_dir());
}

bool Store::has(const hash::Hash128& tree) const {
  struct stat st {};
  if (::lstat(path_of(tree).c_str(), &st) != 0)
    return false;
  check_trusted(path_of(tree));
  return true;
}

void Store::check_contents_trusted(const hash::Hash128& tree) const {
  // World-writable only: what a worker writes with a umask of 002 (a
  // user-private group) must not make its environment refused next time.
  const mode_t others = S_IWOTH;
  const fs::path root = path_of(tree);
  boost::system::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || S_ISLNK(st.st_mode) || !(st.st_mode & others))
      continue;
    throw InputError(
        fmt::format("{}: writable by others (mode {:04o}) inside an installed environment: another "
                    "user could change what your jobs run; remove {} (distenv gc) and run again",
                    it->path().string(), st.st_mode & 07777, root.string()));
  }
  if (ec)
    throw Error(fmt::format("{}: {}", root.string(), ec.message()));
}

namespace {

[[noreturn]] void opened_up(const std::string& path, mode_t mode, const fs::path& root) {
  throw InputError(
      fmt::format("{}: writable by others (mode {:04o}) inside an installed environment: another "
                  "user could change what your jobs run; remove {} (distenv gc) and run again",
                  path, mode & 07777, root.string()));
}

// Every directory below `dir` (not files: d_type says which is which) must
// not be writable by everyone.
void check_directories(const std::string& dir, const fs::path& root) {
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    throw Error(fmt::format("{}: {}", dir, errno_text(errno)));
  std::vector<std::string> below;
  while (const struct dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == ".." || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
      continue;
    const std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      continue;
    if (st.st_mode & S_IWOTH)
      opened_up(path, st.st_mode, root);
    below.push_back(path);
  }
  ::closedir(d);
  for (const std::string& path : below)
    check_directories(path, root);
}

} // namespace

std::string Store::verify(const hash::Hash128& tree) const {
  std::string index;
  try {
    index = read_file(index_of(tree), uint64_t(1) << 30, Follow::no);
  } catch (const Error&) {
  }
  return verify(tree, index);
}

std::string Store::verify(const hash::Hash128& tree, const std::string& index) const {
  if (index.compare(0, index_magic().size(), index_magic()) != 0) { // no stat records: the full walk
    check_contents_trusted(tree);
    return {};
  }
  const fs::path root = path_of(tree);
  struct stat st {};
  if (::lstat(root.c_str(), &st) == 0 && (st.st_mode & S_IWOTH))
    opened_up(root.string(), st.st_mode, root);
  check_directories(root.string(), root);
  std::string changed;
  for_each_indexed(index, [&](const IndexedFile& f) {
    const std::string path = (root / std::string(f.path)).string();
    const bool found = ::lstat(path.c_str(), &st) == 0;
    if (found && S_ISREG(st.st_mode) && (st.st_mode & S_IWOTH))
      opened_up(path, st.st_mode, root);
    if (changed.empty())
      changed = change_of(f, found, st);
  });
  return changed;
}

std::string Store::changed(const hash::Hash128& tree) const {
  std::string index;
  try {
    index = read_file(index_of(tree), uint64_t(1) << 30, Follow::no);
  } catch (const Error&) {
    return {}; // an install of an older distenv, without an index: taken as it is
  }
  return first_changed(path_of(tree), index);
}

namespace {

void record_use(const fs::path& envs, const std::string& name) {
  // Best effort: without a record the directory's mtime stands in. No
  // symlink is followed (envs/ is trusted; what is below it is not).
  make_directory(envs / ".used", 0755);
  const Fd dir(::open((envs / ".used").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir)
    return;
  // The time in ns as its content: file timestamps come from a coarse
  // clock (a few ms), and two jobs may be closer than that.
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::string text = std::to_string(int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec) + "\n";
  const Fd file(
      ::openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (file)
    (void)write_fully(file.get(), text.data(), text.size());
}

} // namespace

bool Store::InUse::try_alone() {
  // flock converts a hold by dropping it first: when it fails, take the shared one back.
  if (::flock(m_fd.get(), LOCK_EX | LOCK_NB) == 0)
    return true;
  share();
  return false;
}

void Store::InUse::share() {
  retry_eintr([&] { return ::flock(m_fd.get(), LOCK_SH); });
}

Store::InUse::InUse(const Store& store, const hash::Hash128& tree) {
  const fs::path dir = store.path_of(tree);
  m_fd.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!m_fd)
    throw Error(fmt::format("{}: {}", dir.string(), errno_text(errno)));
  retry_eintr([&] { return ::flock(m_fd.get(), LOCK_SH); });
  // It may have become another version while we waited for the lock (a new
  // version is made from an unused one in place): then it is not here.
  struct stat held {
  }, now{};
  if (::fstat(m_fd.get(), &held) != 0 || ::lstat(dir.c_str(), &now) != 0 || held.st_ino != now.st_ino ||
      held.st_dev != now.st_dev)
    throw Error(fmt::format("{}: replaced while this job waited for it", dir.string()));
  record_use(store.envs_dir(), dir.filename().string());
}

int64_t last_used_ns(const fs::path& envs, const std::string& name) {
  struct stat st {};
  if (::lstat((envs / ".used" / name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    char text[32] = {};
    const Fd file(::open((envs / ".used" / name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    int64_t ns = 0;
    if (file && read_some(file.get(), text, sizeof text - 1) > 0 &&
        std::from_chars(text, text + std::strlen(text), ns).ec == std::errc() && ns > 0)
      return ns;
    return int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec; // being written, or set by hand
  }
  if (::lstat((envs / name).c_str(), &st) == 0)
    return int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return 0;
}

std::string Store::identity() {
  boost::system::error_code ec;
  open();
  const fs::path id_file = envs_dir() / ".store-id";
  if (!fs::exists(id_file, ec)) {
    std::random_device rd;
    const std::string id = fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
    // A name no other machine or thread uses: the id itself is random.
    const fs::path tmp = envs_dir() / fmt::format(".store-id.{}.{}", host_name(), id);
    write_file(tmp, id + "\n");
    // link() fails if another machine made the id first: theirs stays.
    if (::link(tmp.c_str(), id_file.c_str()) != 0 && errno != EEXIST) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw Error(fmt::format("{}: cannot create: {}", id_file.string(), errno_text(err)));
    }
    ::unlink(tmp.c_str());
  }
  std::string id = read_file(id_file, 256, Follow::no); // a FIFO or a link here must not hang nor redirect us
  while (!id.empty() && (id.back() == '\n' || id.back() == ' '))
    id.pop_back();
  return id;
}

uint64_t Store::block_size() const {
  return space_near(m_dest).block;
}

Store::Result Store::reuse(const hash::Hash128& tree) {
  Result result;
  result.in_use = std::make_shared<InUse>(*this, tree);
  result.dir = path_of(tree);
  result.reused = true;
  result.tree_hash = tree;
  return result;
}

} // namespace distenv::install
