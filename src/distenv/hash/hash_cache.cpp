// The stat-keyed content-hash cache of the reading machine.
#include <distenv/hash/hash_cache.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace distenv::hash {

namespace {

constexpr char k_magic[] = "distenv-hash-cache-v1\n";
constexpr size_t k_record = 8 * 5 + 16; // dev, ino, size, mtime, ctime, hash

void put64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

int64_t ns(const struct timespec& t) {
  return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// File systems whose timestamps come from another machine's clock.
bool on_network_fs(const boost::filesystem::path& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0)
    return true;
  switch (static_cast<unsigned long>(fs.f_type)) {
  case 0x6969:     // NFS
  case 0xFF534D42: // CIFS
  case 0xFE534D42: // SMB2
  case 0x65735546: // FUSE
  case 0x0BD00BD0: // Lustre
  case 0x47504653: // GPFS
  case 0x19830326: // BeeGFS
  case 0x00C36400: // CephFS
    return true;
  default:
    return false;
  }
}

} // namespace

// One cache file per project ever read; a file in use is touched at least
// daily, so its mtime says when it was last used.
std::pair<size_t, uint64_t> HashCache::prune(const boost::filesystem::path& dir, size_t keep) {
  struct File {
    boost::filesystem::path path;
    std::time_t used;
    uint64_t bytes;
  };
  std::vector<File> files;
  boost::system::error_code ec;
  for (boost::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    struct stat st {};
    if (name.rfind("hashes-", 0) == 0 && name.find(".tmp-") == std::string::npos &&
        ::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid())
      files.push_back({it->path(), st.st_mtime, static_cast<uint64_t>(st.st_size)});
  }
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.used > b.used; });
  const std::time_t cutoff = ::time(nullptr) - 30 * 86400;
  std::pair<size_t, uint64_t> removed{0, 0};
  for (size_t i = 0; i < files.size(); ++i)
    if ((i >= keep || files[i].used < cutoff) && ::unlink(files[i].path.c_str()) == 0) {
      ++removed.first;
      removed.second += files[i].bytes;
    }
  return removed;
}

boost::filesystem::path HashCache::default_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (xdg && *xdg == '/')
    return boost::filesystem::path(xdg) / "distenv";
  if (home && *home == '/')
    return boost::filesystem::path(home) / ".cache" / "distenv";
  return {};
}

boost::filesystem::path HashCache::default_file(const boost::filesystem::path& project,
                                                const boost::filesystem::path& fallback_dir) {
  const std::string name = "hashes-" + hash_bytes(project.string()).hex().substr(0, 16);
  const boost::filesystem::path dir = default_dir();
  if (!dir.empty()) {
    ::mkdir(dir.parent_path().c_str(), 0700); // ~/.cache may not exist yet
    ::mkdir(dir.c_str(), 0700);
    // Like the store: a directory of ours that nobody else can write (a
    // planted symlink, or a shared one, could redirect or replace the cache).
    struct stat st {};
    if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
        !(st.st_mode & (S_IWGRP | S_IWOTH)) && ::access(dir.c_str(), W_OK) == 0)
      return dir / name;
  }
  return fallback_dir.empty() ? boost::filesystem::path() : fallback_dir / name;
}

int64_t HashCache::system_now_ns() {
  struct timespec t {};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return ns(t);
}

HashCache::HashCache(boost::filesystem::path file, Clock now)
    : m_file(std::move(file)), m_now(std::move(now)) {
  struct stat st {};
  if (m_file.empty())
    return;
  if (::stat(m_file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 022)) {
    m_fresh = true;
    return; // missing, or not ours alone: not trusted
  }
  if (st.st_mtime < ::time(nullptr) - 86400)
    ::utimensat(AT_FDCWD, m_file.c_str(), nullptr, 0); // in use: not stale (see prune_stale)
  std::string data;
  try {
    data = read_file(m_file, uint64_t(1) << 30, Follow::no);
  } catch (const std::exception&) {
    return;
  }
  const size_t head = sizeof k_magic - 1;
  if (data.size() < head + 16 || data.compare(0, head, k_magic) != 0 ||
      (data.size() - head - 16) % k_record != 0)
    return; // foreign or torn
  const std::string_view body(data.data() + head, data.size() - head - 16);
  const Hash128 sum = hash_bytes(body);
  if (get64(data.data() + data.size() - 16) != sum.high || get64(data.data() + data.size() - 8) != sum.low)
    return; // corrupt
  for (size_t at = 0; at < body.size(); at += k_record) {
    const char* r = body.data() + at;
    m_entries[{get64(r), get64(r + 8)}] = {get64(r + 16),
                                           static_cast<int64_t>(get64(r + 24)),
                                           static_cast<int64_t>(get64(r + 32)),
                                           {get64(r + 40), get64(r + 48)}};
  }
  m_loaded = m_entries.size();
}

std::optional<Hash128> HashCache::known(const boost::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::nullopt;
  return known(st);
}

std::optional<Hash128> HashCache::known(const struct stat& st) {
  if (!S_ISREG(st.st_mode))
    return std::nullopt;
  std::lock_guard lock(m_mutex);
  const auto it = m_entries.find({st.st_dev, st.st_ino});
  if (it == m_entries.end() || it->second.size != static_cast<uint64_t>(st.st_size) ||
      it->second.mtime_ns != ns(st.st_mtim) || it->second.ctime_ns != ns(st.st_ctim))
    return std::nullopt;
  ++m_hits;
  it->second.used = true;
  return it->second.hash;
}

Hash128 HashCache::hash(const boost::filesystem::path& path, uint64_t& size) {
  if (const auto h = known(path)) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    size = static_cast<uint64_t>(st.st_size);
    return *h;
  }
  ++m_misses;
  const Hash128 h = hash_file(path, size);
  // What was read is what the file held at the stat after it (a file that
  // changes while being read gets a new ctime and is read again next time).
  struct stat after {};
  if (::stat(path.c_str(), &after) == 0 && S_ISREG(after.st_mode) &&
      static_cast<uint64_t>(after.st_size) == size) {
    record(path, after, h);
  }
  return h;
}

void HashCache::record(const boost::filesystem::path& path, const struct stat& st, const Hash128& h) {
  const int64_t snap = m_now(); // the stat was taken just before this
  std::lock_guard lock(m_mutex);
  auto fs = m_network_fs.find(st.st_dev); // one statfs per file system, not per file
  if (fs == m_network_fs.end())
    fs = m_network_fs.emplace(st.st_dev, on_network_fs(path)).first;
  const int64_t margin = fs->second ? k_racy_network_ns : k_racy_local_ns;
  m_entries[{st.st_dev, st.st_ino}] = {
      static_cast<uint64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim), h, true, snap - margin};
  m_changed = true;
}

void HashCache::remember(const boost::filesystem::path& path, const Hash128& h) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return;
  record(path, st, h);
}

void HashCache::save() {
  if (m_file.empty())
    return;
  std::string body;
  {
    std::lock_guard lock(m_mutex);
    if (!m_changed && m_loaded == m_entries.size() &&
        std::all_of(m_entries.begin(), m_entries.end(), [](const auto& kv) { return kv.second.used; }))
      return; // every entry loaded was used, none added: the file says it already
    body.reserve(m_entries.size() * k_record);
    for (const auto& [key, e] : m_entries) {
      if (!e.used || (e.racy_after_ns && std::max(e.mtime_ns, e.ctime_ns) > e.racy_after_ns))
        continue; // gone from the environment, or racy: could change within its timestamps' tick
      put64(body, key.first);
      put64(body, key.second);
      put64(body, e.size);
      put64(body, static_cast<uint64_t>(e.mtime_ns));
      put64(body, static_cast<uint64_t>(e.ctime_ns));
      put64(body, e.hash.high);
      put64(body, e.hash.low);
    }
  }
  const Hash128 sum = hash_bytes(body);
  std::string out = k_magic + body;
  put64(out, sum.high);
  put64(out, sum.low);
  try {
    write_file_atomic(m_file, out, Durability::none);
    ::chmod(m_file.c_str(), 0600);
    if (m_fresh)
      prune(m_file.parent_path());
  } catch (const std::exception&) {
  }
}

} // namespace distenv::hash
