// flock-based lock files for the node-local store.
#include <distenv/install/file_lock.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/interrupt.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

// The process holding a flock on the file behind `fd`, as /proc/locks
// names it (the kernel's word, not the text the holder wrote: a recycled
// pid cannot pass for it); 0 when the kernel does not say (another
// machine's lock on a network file system, no /proc).
pid_t flock_holder(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return 0;
  std::string locks;
  try {
    locks = read_file("/proc/locks");
  } catch (const std::exception&) {
    return 0;
  }
  std::istringstream lines(locks);
  std::string line;
  while (std::getline(lines, line)) {
    char kind[16] = "", mode[16] = "";
    long pid = 0;
    unsigned dev_major = 0, dev_minor = 0;
    unsigned long long ino = 0;
    if (std::sscanf(line.c_str(), "%*d: %15s %*s %15s %ld %x:%x:%llu", kind, mode, &pid, &dev_major,
                    &dev_minor, &ino) == 6 &&
        std::string(kind) == "FLOCK" && ino == st.st_ino && dev_major == major(st.st_dev) &&
        dev_minor == minor(st.st_dev) && pid > 0)
      return static_cast<pid_t>(pid);
  }
  return 0;
}

// Whether `pid` is stopped (SIGSTOP, a job-control stop, a debugger):
// the state letter of /proc/<pid>/stat, after the command name.
bool stopped(pid_t pid) {
  try {
    const std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() &&
           (stat[paren + 2] == 'T' || stat[paren + 2] == 't');
  } catch (const std::exception&) {
    return false;
  }
}

} // namespace

FileLock::FileLock(const boost::filesystem::path& path, double timeout_seconds, double look_seconds) {
  m_fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644));
  if (!m_fd)
    throw Error(fmt::format("{}: cannot open lock: {}", path.string(), errno_text(errno)));
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(timeout_seconds));
  // Polled, not a blocking flock: a blocking wait could not give up. A
  // holder on this machine that stays stopped for two seconds will not let
  // go while it is stopped: said at once, not after the timeout.
  // (A 20 ms poll: looks are rarer.)
  const auto look_every =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(look_seconds));
  auto next_look = clock::now() + look_every;
  int stopped_looks = 0;
  while (retry_eintr([&] { return ::flock(m_fd.get(), LOCK_EX | LOCK_NB); }) != 0) {
    if (errno != EWOULDBLOCK)
      throw Error(fmt::format("{}: cannot lock: {}", path.string(), errno_text(errno)));
    if (clock::now() >= next_look) {
      next_look = clock::now() + look_every;
      const pid_t pid = flock_holder(m_fd.get());
      stopped_looks = pid && stopped(pid) ? stopped_looks + 1 : 0;
      if (stopped_looks >= 3)
        throw Error(fmt::format("{}: held by pid {} on {}, which is stopped (SIGSTOP, a suspended job or a "
                                "debugger) and will not let go while it is: resume it (kill -CONT {}) or end "
                                "it, then run again",
                                path.string(), pid, machine_name(), pid));
    }
    if (clock::now() >= deadline) {
      const std::string who = holder(m_fd.get());
      throw Error(
          fmt::format("{}: held by {} for more than {:g} s; another job is installing into or cleaning "
                      "this store (it may be stopped); --lock-timeout says how long to wait",
                      path.string(), who.empty() ? "another process" : who, timeout_seconds));
    }
    check_stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string me = fmt::format("{} {}\n", ::getpid(), machine_name());
  if (::ftruncate(m_fd.get(), 0) == 0)
    (void)!::pwrite(m_fd.get(), me.data(), me.size(), 0); // for people, best effort
}

} // namespace distenv::install
