#pragma once

#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

namespace distenv::install {

// An exclusive flock(2) on a file, held for the object's lifetime. The kernel
// drops it when the process dies, so a crashed installer never blocks the
// next. The holder writes "pid host" into the file; a waiter that gives up
// after `timeout_seconds` says who holds it (a job stopped with SIGSTOP, or
// one still installing), instead of waiting forever. A holder on this
// machine that the kernel shows stopped at three looks in a row (one every
// `look_seconds`) is named at once: it cannot let go while it is stopped.
class FileLock {
public:
  explicit FileLock(const boost::filesystem::path& path, double timeout_seconds = 600,
                    double look_seconds = 1);

private:
  Fd m_fd; // closing it releases the flock
};

} // namespace distenv::install
