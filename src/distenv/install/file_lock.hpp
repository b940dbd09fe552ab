#pragma once

#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

namespace distenv::install {

// An exclusive flock(2) on a file, held for the object's lifetime. The kernel
// drops it when the process dies, so a crashed installer never blocks the
// next. The holder writes "pid host" into the file; a waiter that gives up
// after `timeout_seconds` says who holds it (a job stopped with SIGSTOP, or
// one still installing), instead of waiting forever.
class FileLock {
public:
  explicit FileLock(const boost::filesystem::path& path, double timeout_seconds = 600);

private:
  Fd m_fd; // closing it releases the flock
};

} // namespace distenv::install
