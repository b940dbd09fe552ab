// flock-based lock files for the node-local store.
#include <distenv/install/file_lock.hpp>

#include <distenv/util/error.hpp>

#include <distenv/util/fd.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace distenv::install {

FileLock::FileLock(const boost::filesystem::path& path) {
  m_fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!m_fd)
    throw Error(fmt::format("{}: cannot open lock: {}", path.string(), errno_text(errno)));
  if (retry_eintr([&] { return ::flock(m_fd.get(), LOCK_EX); }) != 0)
    throw Error(fmt::format("{}: cannot lock: {}", path.string(), errno_text(errno)));
}

} // namespace distenv::install
