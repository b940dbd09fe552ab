// flock-based lock files for the node-local store.
#include <distenv/install/file_lock.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <sys/file.h>
#include <thread>
#include <unistd.h>

namespace distenv::install {

namespace {

// "pid 1234 on node2", from what the holder wrote ("" when it says nothing).
std::string holder(int fd) {
  char buf[256] = {0};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  const size_t space = text.find(' ');
  if (space == std::string::npos || text.back() != '\n')
    return {};
  return fmt::format("pid {} on {}", text.substr(0, space), text.substr(space + 1, text.size() - space - 2));
}

} // namespace

FileLock::FileLock(const boost::filesystem::path& path, double timeout_seconds) {
  m_fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644));
  if (!m_fd)
    throw Error(fmt::format("{}: cannot open lock: {}", path.string(), errno_text(errno)));
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(timeout_seconds));
  // Polled, not a blocking flock: a blocking wait could not give up.
  while (retry_eintr([&] { return ::flock(m_fd.get(), LOCK_EX | LOCK_NB); }) != 0) {
    if (errno != EWOULDBLOCK)
      throw Error(fmt::format("{}: cannot lock: {}", path.string(), errno_text(errno)));
    if (clock::now() >= deadline) {
      const std::string who = holder(m_fd.get());
      throw Error(
          fmt::format("{}: held by {} for more than {:g} s; another job is installing into or cleaning "
                      "this store (it may be stopped); --lock-timeout says how long to wait",
                      path.string(), who.empty() ? "another process" : who, timeout_seconds));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string me = fmt::format("{} {}\n", ::getpid(), machine_name());
  if (::ftruncate(m_fd.get(), 0) == 0)
    (void)!::pwrite(m_fd.get(), me.data(), me.size(), 0); // for people, best effort
}

} // namespace distenv::install
