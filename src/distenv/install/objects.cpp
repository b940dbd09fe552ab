// The store's objects: one read-only file per content, linked into trees.
#include <distenv/install/objects.hpp>

#include <distenv/install/env_index.hpp>
#include <distenv/util/atomic_file.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/varint.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::install {

namespace {

constexpr std::string_view k_magic = "distenv-objects-1\n";

unsigned read_only(bool executable) {
  return executable ? 0555 : 0444;
}

// Copies what the kernel will (copy_file_range), else reads and writes.
void copy_data(int in, int out, const std::string& entry) {
  bool kernel = true;
  std::unique_ptr<char[]> buffer;
  for (;;) {
    ssize_t n;
    if (kernel) {
      n = ::copy_file_range(in, nullptr, out, nullptr, size_t(1) << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        kernel = false;
        continue;
      }
    } else {
      if (!buffer)
        buffer.reset(new char[size_t(1) << 20]);
      n = ::read(in, buffer.get(), size_t(1) << 20);
      if (n > 0 && !write_fully(out, buffer.get(), static_cast<size_t>(n)))
        throw Error(fmt::format("entry '{}': cannot write: {}", entry, errno_text(errno)));
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(fmt::format("entry '{}': cannot copy: {}", entry, errno_text(errno)));
    if (n == 0)
      return;
  }
}

} // namespace

std::optional<LinkMode> parse_link_mode(std::string_view text) {
  if (text == "auto")
    return LinkMode::automatic;
  if (text == "reflink")
    return LinkMode::reflink;
  if (text == "hardlink")
    return LinkMode::hardlink;
  if (text == "copy")
    return LinkMode::copy;
  return std::nullopt;
}

std::string_view link_mode_name(LinkMode mode) {
  switch (mode) {
  case LinkMode::automatic:
    return "auto";
  case LinkMode::reflink:
    return "reflink";
  case LinkMode::hardlink:
    return "hardlink";
  case LinkMode::copy:
    return "copy";
  }
  return "?";
}

Objects::Objects(fs::path dir, LinkMode mode) : m_dir(std::move(dir)), m_mode(mode) {
  if (mode != LinkMode::automatic)
    m_used = mode;
}

fs::path Objects::path_of(const ObjectKey& key) const {
  const std::string hex = key.content.hex();
  return m_dir / hex.substr(0, 2) / (hex.substr(2) + (key.executable ? "x" : ""));
}

void Objects::load() {
  std::string table;
  try {
    table = read_file(m_dir / "table", uint64_t(1) << 30, Follow::no);
  } catch (const Error&) {
    return; // none yet (or unreadable: then nothing is counted on)
  }
  if (table.compare(0, k_magic.size(), k_magic) != 0)
    return;
  try {
    for (size_t at = k_magic.size(); at < table.size();) {
      ObjectKey key;
      key.content.high = get_u64(table, at);
      key.content.low = get_u64(table, at);
      key.executable = get_varint(table, at) != 0;
      Record r;
      r.inode = get_varint(table, at);
      r.size = get_varint(table, at);
      r.mtime_ns = static_cast<int64_t>(get_u64(table, at));
      m_records[key] = r;
    }
  } catch (const std::out_of_range&) { // a torn table: what was read is checked before use
  }
}

void Objects::save() {
  if (!m_changed)
    return;
  fs::create_directories(m_dir);
  std::string table(k_magic);
  table.reserve(k_magic.size() + m_records.size() * 40);
  for (const auto& [key, r] : m_records) {
    put_u64(table, key.content.high);
    put_u64(table, key.content.low);
    put_varint(table, key.executable ? 1 : 0);
    put_varint(table, r.inode);
    put_varint(table, r.size);
    put_u64(table, static_cast<uint64_t>(r.mtime_ns));
  }
  AtomicFile file(m_dir / "table");
  file.write(table);
  file.commit(Durability::none); // the store's install syncs its file system
  m_changed = false;
}

bool Objects::verify(const ObjectKey& key) {
  if (m_verified.count(key))
    return true;
  const auto it = m_records.find(key);
  if (it == m_records.end())
    return false;
  struct stat st {};
  const fs::path path = path_of(key);
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_ino) == it->second.inode &&
      static_cast<uint64_t>(st.st_size) == it->second.size && mtime_ns(st) == it->second.mtime_ns &&
      (st.st_mode & 0222) == 0) {
    m_verified.insert(key);
    return true;
  }
  // Changed since it was made (or gone, or made again by an install that
  // ran since this table was read): not trusted. The file stays (this
  // process may not hold the store lock); an install that receives the
  // content makes the object again, gc removes it when nothing uses it.
  m_records.erase(it);
  m_changed = true;
  return false;
}

bool Objects::has(const hash::Hash128& content) {
  return verify({content, false}) || verify({content, true});
}

void Objects::remember(const ObjectKey& key, const struct stat& st) {
  m_records[key] = {static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size), mtime_ns(st)};
  m_verified.insert(key);
  m_changed = true;
}

LinkMode Objects::resolve(const fs::path& sample) {
  if (m_used)
    return *m_used;
  // automatic: one probe, a clone of `sample` to a scratch file beside the objects
  const fs::path probe = m_dir / fmt::format(".probe-{}", ::getpid());
  const Fd in(::open(sample.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  Fd out(::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  m_used = in && out && ::ioctl(out.get(), FICLONE, in.get()) == 0 ? LinkMode::reflink : LinkMode::hardlink;
  out.reset();
  ::unlink(probe.c_str());
  return *m_used;
}

void Objects::clone_or_copy(const fs::path& from, const std::string& to, unsigned mode,
                            const std::string& entry) {
  const Fd in(::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in)
    throw Error(fmt::format("entry '{}': {}: {}", entry, from.string(), errno_text(errno)));
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out)
    throw Error(fmt::format("entry '{}': cannot create {}: {}", entry, to, errno_text(errno)));
  if (::ioctl(out.get(), FICLONE, in.get()) != 0)
    copy_data(in.get(), out.get(), entry);
  struct stat st {};
  if (::fstat(in.get(), &st) == 0) {
    const struct timespec times[2] = {st.st_mtim, st.st_mtim};
    ::futimens(out.get(), times);
  }
  if (::fchmod(out.get(), mode) != 0 || !out.close())
    throw Error(fmt::format("entry '{}': cannot write {}: {}", entry, to, errno_text(errno)));
}

void Objects::make_copy(const ObjectKey& key, const fs::path& from, const std::string& entry) {
  const fs::path object = path_of(key);
  const std::string temp = (m_dir / fmt::format(".new-{}", ::getpid())).string();
  ::unlink(temp.c_str());
  clone_or_copy(from, temp, read_only(key.executable), entry);
  if (::rename(temp.c_str(), object.c_str()) != 0)
    throw Error(fmt::format("{}: cannot create: {}", object.string(), errno_text(errno)));
  struct stat st {};
  if (::lstat(object.c_str(), &st) != 0)
    throw Error(fmt::format("{}: {}", object.string(), errno_text(errno)));
  remember(key, st);
}

// The object's directory (<2 hex>/), made on first use.
static void make_parent(const fs::path& object) {
  if (::mkdir(object.parent_path().c_str(), 0755) != 0 && errno != EEXIST)
    throw Error(fmt::format("{}: cannot create: {}", object.parent_path().string(), errno_text(errno)));
}

void Objects::place(const hash::Hash128& content, uint64_t size, bool executable, const std::string& path,
                    const std::string& entry, bool own) {
  ObjectKey key{content, executable};
  if (!verify(key)) {
    // Only the other mode is here: the object for this one is made from it
    // (a clone or a copy on this machine, nothing received).
    const ObjectKey other{content, !executable};
    if (!verify(other))
      throw Error(fmt::format("received archive: entry '{}': content {} is not on this machine", entry,
                              content.hex()));
    make_copy(key, path_of(other), entry);
  }
  const fs::path object = path_of(key);
  const Record& r = m_records.at(key);
  if (r.size != size)
    throw Error(fmt::format("received archive: entry '{}': {} bytes here, {} sent", entry, r.size, size));
  switch (own ? LinkMode::copy : resolve(object)) {
  case LinkMode::hardlink:
    if (::link(object.c_str(), path.c_str()) != 0)
      throw Error(fmt::format("received archive: entry '{}': cannot link {}: {}", entry, object.string(),
                              errno_text(errno)));
    break;
  case LinkMode::reflink:
  case LinkMode::automatic:
    clone_or_copy(object, path, read_only(executable), entry);
    break;
  case LinkMode::copy:
    clone_or_copy(object, path, executable ? 0755 : 0644, entry);
    break;
  }
  // Still what was trusted once the tree has it (a change meanwhile fails
  // this install rather than ship it).
  struct stat st {};
  if (::lstat(object.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_ino) != r.inode ||
      mtime_ns(st) != r.mtime_ns || static_cast<uint64_t>(st.st_size) != r.size)
    throw Error(
        fmt::format("entry '{}': object {} changed during the install; run again", entry, object.string()));
}

void Objects::adopt(const hash::Hash128& content, uint64_t size, bool executable, const std::string& path,
                    const std::string& entry, bool own) {
  (void)size;
  const ObjectKey key{content, executable};
  const fs::path object = path_of(key);
  const LinkMode mode = own ? LinkMode::copy : resolve(path);
  if (verify(key)) {
    if (mode == LinkMode::hardlink) { // the same content twice: one inode
      const std::string temp = path + ".distenv-link";
      if (::link(object.c_str(), temp.c_str()) == 0 && ::rename(temp.c_str(), path.c_str()) != 0)
        ::unlink(temp.c_str());
    }
    return;
  }
  make_parent(object);
  ::unlink(object.c_str()); // an untrusted leftover
  if (mode == LinkMode::hardlink) {
    if (::link(path.c_str(), object.c_str()) != 0)
      throw Error(
          fmt::format("entry '{}': cannot link into {}: {}", entry, object.string(), errno_text(errno)));
  } else { // a clone (its own inode), else a copy: the tree's file is not the object
    make_copy(key, path, entry);
    return;
  }
  struct stat st {};
  if (::lstat(object.c_str(), &st) != 0)
    throw Error(fmt::format("{}: {}", object.string(), errno_text(errno)));
  remember(key, st);
}

void Objects::hold() {
  fs::create_directories(m_dir);
  m_hold.reset(::open((m_dir / ".in-use").c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (m_hold)
    retry_eintr([&] { return ::flock(m_hold.get(), LOCK_SH); });
}

bool Objects::try_exclusive() {
  fs::create_directories(m_dir);
  m_hold.reset(::open((m_dir / ".in-use").c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  return m_hold && ::flock(m_hold.get(), LOCK_EX | LOCK_NB) == 0;
}

unsigned Objects::file_mode(unsigned mode, bool own) const {
  return own || m_mode == LinkMode::copy ? mode : (mode & ~0222u);
}

uint64_t Objects::collect(const std::unordered_set<hash::Hash128>& keep, bool dry_run) {
  // Every file under objects/<2 hex>/, in the table or not (a crash between
  // a link and the table's save leaves one that is not): kept only when an
  // environment uses its content.
  uint64_t freed = 0;
  boost::system::error_code ec;
  for (fs::directory_iterator top(m_dir, ec), end; !ec && top != end; top.increment(ec)) {
    const std::string prefix = top->path().filename().string();
    if (prefix.size() != 2 || !fs::is_directory(top->symlink_status()))
      continue;
    for (fs::directory_iterator it(top->path(), ec), e; !ec && it != e; it.increment(ec)) {
      std::string name = it->path().filename().string();
      const bool executable = !name.empty() && name.back() == 'x';
      if (executable)
        name.pop_back();
      const auto content = hash::Hash128::from_hex(prefix + name);
      if (content && keep.count(*content))
        continue;
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        continue;
      freed += static_cast<uint64_t>(st.st_size);
      if (dry_run)
        continue;
      ::unlink(it->path().c_str());
      if (content)
        m_records.erase({*content, executable});
      m_changed = true;
    }
  }
  return freed;
}

} // namespace distenv::install
