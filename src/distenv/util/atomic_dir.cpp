// A directory tree that appears whole (one rename) or not at all.
#include <distenv/util/atomic_dir.hpp>

#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <sys/stat.h>

namespace distenv {

void remove_tree(const fs::path& dir) {
  boost::system::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec || !fs::exists(fs::symlink_status(dir, ec)))
    return;
  // A read-only directory inside stops the removal of its entries: open
  // them all up first.
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (fs::is_directory(it->symlink_status()))
      ::chmod(it->path().c_str(), 0700);
  ::chmod(dir.c_str(), 0700);
  fs::remove_all(dir, ec);
}

AtomicDirectory::AtomicDirectory(fs::path temp, unsigned mode, bool exists) : m_dir(std::move(temp)) {
  if (exists)
    return;
  if (::mkdir(m_dir.c_str(), mode) != 0)
    throw Error(fmt::format("{}: cannot create: {}", m_dir.string(), errno_text(errno)));
  ::chmod(m_dir.c_str(), mode); // whatever the umask
}

AtomicDirectory::~AtomicDirectory() {
  if (!m_committed)
    remove_tree(m_dir);
}

void AtomicDirectory::commit(const fs::path& target) {
  if (::rename(m_dir.c_str(), target.c_str()) != 0)
    throw Error(
        fmt::format("cannot rename {} to {}: {}", m_dir.string(), target.string(), errno_text(errno)));
  m_committed = true;
}

} // namespace distenv
