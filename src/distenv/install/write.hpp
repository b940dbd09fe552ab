#pragma once

// What every way of writing an environment's entries shares: the space
// guard, the modes an installed entry gets, creating a file new and
// writing its data as it is hashed. One line per failure, naming the entry.

#include <distenv/hash/hash.hpp>
#include <distenv/pack/archive_reader.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/space.hpp>

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <ctime>
#include <string>
#include <sys/types.h>

namespace distenv::install {

// Stops an install before its file system is full, whatever the stream
// claims about itself: each entry's declared size (rounded up to blocks, plus
// a block for its inode and directory entry) is reserved before its data is
// written, and free space is read again whenever what was reserved since the
// last reading could exhaust it. A margin stays free for everyone else:
// 64 MiB, or 1% of the file system when that is less.
class SpaceGuard {
public:
  explicit SpaceGuard(const boost::filesystem::path& dir) : m_dir(dir) { read(); }
  void reserve(uint64_t bytes, const std::string& entry);

private:
  void read();

  boost::filesystem::path m_dir;
  Space m_space;
  uint64_t m_margin = 0;
  uint64_t m_since = 0; // reserved since the last reading
};

// The process's umask, read without changing it.
mode_t current_umask();

// The modes an environment's entries get, whatever a stream says: those the
// packer writes (git's rule), so nothing installed is writable by others.
unsigned installed_mode(hash::EntryType type, unsigned mode);

// "received archive: entry 'NAME': cannot WHAT: <errno>" (errno ENOTDIR: an
// entry below a file, InputError).
[[noreturn]] void cannot(const std::string& name, const char* what);

// A new file with its final mode (O_EXCL, never through a symlink).
Fd create_file(const std::string& path, const std::string& name, unsigned mode);
// Sets the file's times to `mtime` and closes it.
void finish_file(Fd& fd, const std::string& name, time_t mtime);
// The data of the reader's current entry, written to `fd` as it comes and
// hashed; Error unless it is `declared` bytes.
hash::Hash128 write_data(pack::ArchiveReader& in, int fd, const std::string& name, uint64_t declared);

} // namespace distenv::install
