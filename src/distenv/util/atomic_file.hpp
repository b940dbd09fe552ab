#pragma once

#include <boost/filesystem/path.hpp>

#include <distenv/util/fd.hpp>

#include <string_view>

namespace distenv {

namespace fs = boost::filesystem;

// Whether a committed file is flushed to disk first. `none` is for files
// whose readers detect a torn one themselves (a checksummed cache): after a
// crash such a file may be empty or old, never half of each.
enum class Durability { synced, none };

// A file written beside its final name and renamed over it on commit()
// (ccache's AtomicFile): readers see the old file or the new one, never a
// torn one. The temporary is created with O_EXCL | O_NOFOLLOW under a name
// no other process uses, so a planted symlink cannot redirect the write. The
// destructor only cleans up: without commit() nothing is left. A path that
// is a character device or a FIFO (/dev/null, a pipe to another program) is
// written as it is, never replaced.
class AtomicFile {
public:
  explicit AtomicFile(fs::path path, unsigned mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return m_fd.get(); }
  const fs::path& path() const { return m_path; }
  // Throws Error "cannot write PATH: why".
  void write(std::string_view data);
  void write(const void* data, size_t size);
  void commit(Durability d = Durability::synced) { commit_as(m_path, d); }
  // The same, under another name in the same directory (one known only
  // once the contents are: a file named by its own hash).
  void commit_as(const fs::path& path, Durability d = Durability::synced);

private:
  fs::path m_path, m_temp;
  Fd m_fd;
  bool m_committed = false;
  bool m_direct = false; // a device or a FIFO: written in place
};

} // namespace distenv
