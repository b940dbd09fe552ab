#pragma once

#include <boost/filesystem/path.hpp>

namespace distenv {

namespace fs = boost::filesystem;

// Removes a directory tree, best effort, even one with read-only
// directories inside (made by someone else's archive, or by a worker).
void remove_tree(const fs::path& dir);

// A directory tree built under a temporary name and renamed to its final
// name on commit(): only that rename makes it visible, so a directory of the
// final name is always complete. The destructor removes what was not
// committed. The directory is created with exactly `mode` (no umask), or
// was made there by the caller (`exists`: from then on it is ours).
class AtomicDirectory {
public:
  AtomicDirectory(fs::path temp, unsigned mode = 0755, bool exists = false);
  ~AtomicDirectory();
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;

  const fs::path& dir() const { return m_dir; }
  // Renames to `target` (throws Error naming both).
  void commit(const fs::path& target);
  // Leaves it to the caller: nothing is removed.
  void release() { m_committed = true; }

private:
  fs::path m_dir;
  bool m_committed = false;
};

} // namespace distenv
