// Writing a received environment to disk, entry by entry, as it arrives.
#include <distenv/install/extract.hpp>

#include <distenv/pack/archive_reader.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/space.hpp>
#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace distenv::install {

namespace {

using pack::ArchiveEntry;
using pack::EntryType;

// Stops an install before its file system is full, whatever the stream
// claims about itself: each entry's declared size (rounded up to blocks, plus
// a block for its inode and directory entry) is reserved before its data is
// written, and free space is read again whenever what was reserved since the
// last reading could exhaust it. A margin stays free for everyone else:
// 64 MiB, or 1% of the file system when that is less.
class SpaceGuard {
public:
  explicit SpaceGuard(const boost::filesystem::path& dir) : m_dir(dir) { read(); }

  void reserve(uint64_t bytes, const std::string& entry) {
    const uint64_t block = m_space.block;
    const uint64_t need = (bytes + block - 1) / block * block + block;
    m_since += need;
    if (m_since + m_margin <= m_space.available)
      return;
    read();
    m_since = need;
    if (m_since + m_margin > m_space.available)
      throw Error(fmt::format("not enough space in {}: entry '{}' needs {}, {} free (keeping {} free)",
                              m_dir.string(), entry, human_bytes(bytes),
                              human_bytes(m_space.available > need ? m_space.available : 0),
                              human_bytes(m_margin)));
  }

private:
  void read() {
    m_space = space_at(m_dir);
    m_margin = std::min<uint64_t>(uint64_t(64) << 20, m_space.total / 100);
  }

  boost::filesystem::path m_dir;
  Space m_space;
  uint64_t m_margin = 0;
  uint64_t m_since = 0; // reserved since the last reading
};

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

[[noreturn]] void cannot(const ArchiveEntry& e, const char* what) {
  if (errno == ENOTDIR) // "f", then "f/x": a tree its hash could not describe
    throw InputError(fmt::format("received archive: entry '{}': lies below a file", e.name));
  throw Error(fmt::format("received archive: entry '{}': cannot {}: {}", e.name, what, errno_text(errno)));
}

// A new file with its final mode (only a umask that takes bits from it
// costs a chmod: each metadata change is a transaction on a journaling file
// system, and a delta install makes thousands).
Fd create_file(const std::string& path, const ArchiveEntry& e, unsigned mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd)
    cannot(e, "create");
  if ((mode & current_umask()) != 0 && ::fchmod(fd.get(), mode) != 0)
    cannot(e, "set its mode");
  return fd;
}

void finish_file(Fd& fd, const ArchiveEntry& e) {
  const struct timespec times[2] = {{e.mtime, 0}, {e.mtime, 0}};
  if (::futimens(fd.get(), times) != 0)
    cannot(e, "set its time");
  if (!fd.close())
    cannot(e, "write");
}

// The data that follows the entry, written as it comes and hashed.
hash::Hash128 write_data(pack::ArchiveReader& in, int fd, const ArchiveEntry& e, uint64_t& written) {
  hash::Hasher hasher;
  const void* block = nullptr;
  size_t size = 0;
  written = 0;
  while (in.read_block(block, size)) {
    if (!write_fully(fd, block, size))
      cannot(e, "write");
    hasher.update(block, size);
    written += size;
  }
  if (written != e.size)
    throw Error(
        fmt::format("received archive: entry '{}': {} bytes of data, {} declared", e.name, written, e.size));
  return hasher.digest();
}

struct Writer {
  pack::ArchiveReader& in;
  std::string root;
  LocalFiles* local;
  const FileCallback& on_file;
  SpaceGuard space;
  ExtractResult result;
  std::vector<std::pair<std::string, time_t>> directories; // their times are set last

  void add(const ArchiveEntry& e, hash::TreeRecord& record) {
    const std::string path = root + "/" + e.name;
    if (path.size() >= PATH_MAX) // it could be made, but not used (nor removed by gc)
      throw InputError(fmt::format("received archive: entry '{}...': a path of {} bytes here, at most {}",
                                   e.name.substr(0, 60), path.size(), PATH_MAX - 1));
    switch (e.type) {
    case EntryType::directory:
      space.reserve(0, e.name);
      if (::mkdir(path.c_str(), record.mode) != 0 ||
          ((record.mode & current_umask()) != 0 && ::chmod(path.c_str(), record.mode) != 0))
        cannot(e, "create");
      directories.emplace_back(path, e.mtime);
      return;
    case EntryType::symlink: {
      space.reserve(0, e.name);
      if (::symlink(e.link.c_str(), path.c_str()) != 0)
        cannot(e, "create");
      const struct timespec times[2] = {{e.mtime, 0}, {e.mtime, 0}};
      ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
      record.size = e.link.size();
      record.content = hash::hash_bytes(e.link);
      ++result.files;
      result.bytes += e.link.size();
      return;
    }
    case EntryType::file:
      add_file(e, path, record);
      return;
    }
  }

  void add_file(const ArchiveEntry& e, const std::string& path, hash::TreeRecord& record) {
    if (e.reference && !local)
      throw Error(fmt::format("received archive: entry '{}': refers to content {} that was not sent", e.name,
                              e.reference->first.hex()));
    record.size = e.reference ? e.reference->second : e.size;
    const bool executable = (record.mode & 0111) != 0;
    space.reserve(record.size, e.name);
    if (e.reference) { // sent by reference: the data is here already
      local->place(e.reference->first, record.size, executable, path, e.name, e.mutable_file);
      record.content = e.reference->first;
      ++result.local_files;
      result.local_bytes += record.size;
    } else {
      Fd fd = create_file(path, e, local ? local->file_mode(record.mode, e.mutable_file) : record.mode);
      record.content = write_data(in, fd.get(), e, record.size);
      finish_file(fd, e);
      if (local)
        local->adopt(record.content, record.size, executable, path, e.name, e.mutable_file);
    }
    if (on_file)
      on_file(record.content, record.size, e.name, e.mutable_file);
    ++result.files;
    result.bytes += record.size;
  }
};

} // namespace

ExtractResult extract(pack::ChunkSource& source, const boost::filesystem::path& dest, LocalFiles* local,
                      const FileCallback& on_file) {
  pack::ArchiveReader in(source);
  Writer w{in, dest.string(), local, on_file, SpaceGuard(dest), {}, {}};
  hash::TreeHasher tree;
  ArchiveEntry e;
  while (in.next(e)) {
    hash::TreeRecord record;
    record.path = e.name;
    record.type = e.type;
    record.mode = installed_mode(e.type, e.mode);
    w.add(e, record);
    tree.add(record);
    ++w.result.entries;
  }
  // Innermost first: setting a directory's time after its entries are made.
  for (auto it = w.directories.rbegin(); it != w.directories.rend(); ++it) {
    const struct timespec times[2] = {{it->second, 0}, {it->second, 0}};
    ::utimensat(AT_FDCWD, it->first.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
  w.result.tree_hash = tree.digest();
  return w.result;
}

} // namespace distenv::install
