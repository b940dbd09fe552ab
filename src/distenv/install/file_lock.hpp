#pragma once

#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

namespace distenv::install {

// An exclusive flock(2) on a file, held for the object's lifetime. The kernel
// drops it when the process dies, so a crashed installer never blocks the next.
class FileLock {
public:
  explicit FileLock(const boost::filesystem::path& path);

private:
  Fd m_fd; // closing it releases the flock
};

} // namespace distenv::install
