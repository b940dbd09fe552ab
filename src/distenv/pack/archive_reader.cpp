// Safe streaming extraction of tar+zstd (libarchive) from a chunk source.
#include <distenv/pack/archive_reader.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/paths.hpp>
#include <distenv/util/units.hpp>
#include <distenv/util/varint.hpp>
#include <distenv/pack/archive_writer.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <algorithm>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdlib>
#include <sys/statvfs.h>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <set>
#include <vector>

namespace distenv::pack {

namespace {

struct ReadContext {
  ChunkSource& source;
  std::exception_ptr failure;
};

la_ssize_t read_cb(struct archive*, void* client, const void** buf) {
  auto* ctx = static_cast<ReadContext*>(client);
  try {
    Bytes chunk = ctx->source.next();
    *buf = chunk.data();
    return static_cast<la_ssize_t>(chunk.size());
  } catch (...) {
    ctx->failure = std::current_exception();
    return -1;
  }
}

struct ReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct DiskDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

// Splits "a/b/c" into components; false on empty, ".", ".." components.
bool clean_components(const std::string& path, std::vector<std::string>& parts) {
  parts.clear();
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos)
      slash = path.size();
    std::string part = path.substr(start, slash - start);
    if (part.empty() && slash == path.size() && !parts.empty())
      break; // "dir/" as written by some tar writers
    if (part.empty() || part == "." || part == "..")
      return false;
    parts.push_back(part);
    start = slash + 1;
  }
  return !parts.empty();
}

// Stops an install before its file system is full, whatever the stream
// claims about itself: each entry's declared size (rounded up to blocks, plus
// a block for its inode and directory entry) is reserved before its data is
// written, and free space is read again (statvfs) whenever what was reserved
// since the last reading could exhaust it. A margin stays free for everyone
// else: 64 MiB, or 1% of the file system when that is less.
class SpaceGuard {
public:
  explicit SpaceGuard(const boost::filesystem::path& dir) : m_dir(dir) { read(); }

  void reserve(uint64_t bytes, const std::string& entry) {
    const uint64_t need = (bytes + m_block - 1) / m_block * m_block + m_block;
    m_since += need;
    if (m_since + m_margin <= m_free)
      return;
    read();
    m_since = need;
    if (m_since + m_margin > m_free)
      throw Error(fmt::format("not enough space in {}: entry '{}' needs {}, {} free (keeping {} free)",
                              m_dir.string(), entry, human_bytes(bytes),
                              human_bytes(m_free > need ? m_free : 0), human_bytes(m_margin)));
  }

private:
  void read() {
    struct statvfs vfs {};
    if (::statvfs(m_dir.c_str(), &vfs) != 0)
      throw Error(fmt::format("{}: {}", m_dir.string(), errno_text(errno)));
    m_block = vfs.f_frsize ? vfs.f_frsize : 4096;
    m_free = static_cast<uint64_t>(vfs.f_bavail) * m_block;
    m_margin = std::min<uint64_t>(uint64_t(64) << 20, static_cast<uint64_t>(vfs.f_blocks) * m_block / 100);
  }

  boost::filesystem::path m_dir;
  uint64_t m_block = 4096, m_free = 0, m_margin = 0;
  uint64_t m_since = 0; // reserved since the last reading
};

// A file the packer sent by reference: its content hash and size.
std::optional<std::pair<hash::Hash128, uint64_t>> reference(struct archive_entry* entry) {
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
    if (name && std::string_view(name) == k_local_xattr && size == 24) {
      const std::string_view v(static_cast<const char*>(value), size);
      size_t at = 0;
      hash::Hash128 h;
      h.high = get_u64(v, at);
      h.low = get_u64(v, at);
      return std::make_pair(h, get_u64(v, at));
    }
  return std::nullopt;
}

// The process's umask, read without changing it (umask(2) can only be read
// by setting it, which would race with threads creating files); 077 (the
// strictest) where /proc does not say.
mode_t current_umask() {
  static const mode_t mask = [] {
    std::FILE* f = std::fopen("/proc/self/status", "re");
    unsigned value = 077;
    if (f) {
      char line[256];
      while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "Umask: %o", &value) == 1)
          break;
      std::fclose(f);
    }
    return static_cast<mode_t>(value);
  }();
  return mask;
}

// Creates `path` (its directory exists: it came earlier in the sorted
// stream) and fills it from the local copy of `hash`. Created with its final
// mode, so only a umask that takes bits from it costs a chmod (each metadata
// change is a transaction on a journaling file system, and a delta install
// makes thousands).
void fill_from_local(LocalFiles& local, const hash::Hash128& hash, uint64_t size, const std::string& path,
                     unsigned mode, time_t mtime, const std::string& name) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    throw Error(fmt::format("received archive: entry '{}': cannot create: {}", name, errno_text(errno)));
  try {
    local.copy_to(hash, size, fd, name);
    const struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    if (((mode & current_umask()) != 0 && ::fchmod(fd, mode) != 0) || ::futimens(fd, times) != 0)
      throw Error(fmt::format("entry '{}': {}", name, errno_text(errno)));
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0)
    throw Error(fmt::format("entry '{}': {}", name, errno_text(errno)));
}

// The modes an environment's entries get, whatever the archive says: those
// the packer writes (git's rule), so nothing installed is writable by others.
unsigned installed_mode(EntryType type, unsigned mode) {
  switch (type) {
  case EntryType::directory:
    return 0755;
  case EntryType::symlink:
    return 0777;
  case EntryType::file:
    break;
  }
  return mode & 0111 ? 0755 : 0644;
}

} // namespace

std::string entry_problem(const std::string& path, EntryType type, unsigned mode,
                          const std::string& link_target) {
  if (path.empty())
    return "empty name";
  if (path.front() == '/')
    return "absolute path";
  std::vector<std::string> parts;
  if (!clean_components(path, parts))
    return path.find("..") != std::string::npos ? "path leaves the install directory ('..')"
                                                : "path is not normalized";
  if (mode & 06000)
    return "setuid/setgid bit";
  if (type == EntryType::symlink)
    return symlink_problem(path, link_target);
  return {};
}

ExtractResult extract(ChunkSource& source, const boost::filesystem::path& dest, LocalFiles* local,
                      const FileCallback& on_file) {
  ReadContext ctx{source, nullptr};
  std::unique_ptr<struct archive, ReadDeleter> in(archive_read_new());
  archive_read_support_filter_zstd(in.get());
  archive_read_support_format_tar(in.get());

  std::unique_ptr<struct archive, DiskDeleter> disk(archive_write_disk_new());
  // libarchive refuses '..' itself. Its SECURE_SYMLINKS check (lstat of
  // every component of every path: ~10 syscalls per entry, 3x slower
  // extraction) is replaced by ours, which is exact here because `dest` starts
  // empty: the only symlinks are the archive's, and no entry may lie below one.
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT);

  auto fail = [&](struct archive* a, const std::string& where) {
    if (ctx.failure)
      std::rethrow_exception(ctx.failure);
    const char* msg = archive_error_string(a);
    std::string why = msg ? msg : "libarchive error";
    // libarchive's own text ("Can't create '...'") does not always say why.
    if (int err = archive_errno(a); err > 0 && why.find(std::strerror(err)) == std::string::npos)
      why += ": " + errno_text(err);
    throw Error(fmt::format("received archive: {}: {}", where, why));
  };

  if (archive_read_open(in.get(), &ctx, nullptr, read_cb, nullptr) != ARCHIVE_OK)
    fail(in.get(), "cannot open");

  ExtractResult result;
  SpaceGuard space(dest);
  // Entries arrive sorted by path (the packer writes them so), which lets the
  // tree hash be computed as they pass and makes duplicates adjacent: memory
  // stays flat however many entries there are.
  hash::TreeHasher tree;
  std::string previous;
  std::set<std::string> symlinks;
  const std::string root = dest.string();
  for (;;) {
    struct archive_entry* entry = nullptr;
    int rc = archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF)
      break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      fail(in.get(), "reading entry header");

    const char* raw_name = archive_entry_pathname(entry);
    std::string name = raw_name ? raw_name : "";
    if (!name.empty() && name.back() == '/')
      name.pop_back();
    const mode_t ftype = archive_entry_filetype(entry);
    const unsigned mode = archive_entry_perm(entry);
    EntryType type = EntryType::file;
    if (archive_entry_hardlink(entry))
      throw Error(fmt::format("received archive: entry '{}': hard links are not allowed", name));
    if (ftype == AE_IFREG)
      type = EntryType::file;
    else if (ftype == AE_IFDIR)
      type = EntryType::directory;
    else if (ftype == AE_IFLNK)
      type = EntryType::symlink;
    else
      throw Error(fmt::format("received archive: entry '{}': {} not allowed", name,
                              ftype == AE_IFCHR || ftype == AE_IFBLK ? "device files are"
                              : ftype == AE_IFIFO                    ? "named pipes are"
                                                                     : "this file type is"));
    const char* raw_link = archive_entry_symlink(entry);
    const std::string link = type == EntryType::symlink && raw_link ? raw_link : "";
    if (std::string why = entry_problem(name, type, mode, link); !why.empty())
      throw Error(fmt::format("received archive: entry '{}': {}", name, why));
    if (result.entries > 0 && name == previous)
      throw Error(fmt::format("received archive: entry '{}': appears twice", name));
    if (result.entries > 0 && name < previous)
      throw Error(fmt::format("received archive: entry '{}': out of order (after '{}'); distenv archives are "
                              "sorted by path",
                              name, previous));
    previous = name;
    for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
      if (symlinks.count(name.substr(0, slash)))
        throw Error(fmt::format("received archive: entry '{}': lies below the symlink '{}'", name,
                                name.substr(0, slash)));
    if (type == EntryType::symlink)
      symlinks.insert(name);

    hash::TreeRecord record;
    record.path = name;
    record.type = type;
    record.mode = installed_mode(type, mode);
    archive_entry_set_perm(entry, record.mode);
    if (type == EntryType::file) {
      if (const auto ref = reference(entry)) { // sent by reference: the data is here already
        if (!local)
          throw Error(fmt::format("received archive: entry '{}': refers to content {} that was not sent", name,
                                  ref->first.hex()));
        space.reserve(ref->second, name);
        fill_from_local(*local, ref->first, ref->second, root + "/" + name, record.mode,
                        archive_entry_mtime(entry), name);
        record.size = ref->second;
        record.content = ref->first;
        if (on_file)
          on_file(record.content, record.size, name);
        tree.add(record);
        ++result.entries;
        ++result.files;
        ++result.local_files;
        result.bytes += record.size;
        result.local_bytes += record.size;
        continue;
      }
      if (archive_entry_size_is_set(entry) == 0)
        throw Error(fmt::format("received archive: entry '{}': no size", name));
      space.reserve(static_cast<uint64_t>(archive_entry_size(entry)), name);
    } else {
      space.reserve(0, name);
    }
    if (type == EntryType::symlink) {
      record.size = link.size();
      record.content = hash::hash_bytes(link);
    }
    archive_entry_set_pathname(entry, (root + "/" + name).c_str());
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
    if (archive_write_header(disk.get(), entry) != ARCHIVE_OK)
      fail(disk.get(), fmt::format("entry '{}'", name));

    if (type == EntryType::file) {
      hash::Hasher hasher;
      const void* block = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      uint64_t written = 0;
      for (;;) {
        int r = archive_read_data_block(in.get(), &block, &size, &offset);
        if (r == ARCHIVE_EOF)
          break;
        if (r != ARCHIVE_OK)
          fail(in.get(), fmt::format("entry '{}'", name));
        if (static_cast<uint64_t>(offset) != written)
          throw Error(fmt::format("received archive: entry '{}': sparse data not allowed", name));
        if (archive_write_data_block(disk.get(), block, size, offset) != ARCHIVE_OK)
          fail(disk.get(), fmt::format("writing '{}'", name));
        hasher.update(block, size);
        written += size;
      }
      record.size = written;
      record.content = hasher.digest();
      if (on_file)
        on_file(record.content, record.size, name);
      ++result.files;
      result.bytes += written;
    } else if (type == EntryType::symlink) {
      ++result.files;
      result.bytes += link.size();
    }
    if (archive_write_finish_entry(disk.get()) != ARCHIVE_OK)
      fail(disk.get(), fmt::format("entry '{}'", name));
    tree.add(record);
    ++result.entries;
  }
  if (archive_write_close(disk.get()) != ARCHIVE_OK)
    fail(disk.get(), "finishing");
  result.tree_hash = tree.digest();
  return result;
}

} // namespace distenv::pack
