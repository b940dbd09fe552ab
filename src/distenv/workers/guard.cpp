// The guard that outlives a killed rank, and the strays a job leaves.
#include <distenv/workers/guard.hpp>

#include <distenv/workers/cgroup.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/files.hpp>
#include <distenv/workers/supervisor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace distenv::workers {

namespace {

constexpr char k_guard_title[] = "distenv-guard";

// Bytes of this process's command line (argv's strings, laid out one after
// the other from argv[0]), as /proc/self/cmdline shows them.
size_t command_line_length() {
  const Fd fd(::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC));
  size_t total = 0;
  char buf[4096];
  ssize_t n;
  while (fd && (n = read_some(fd.get(), buf, sizeof buf)) > 0)
    total += static_cast<size_t>(n);
  return total;
}

// The guard's life: collect process groups until the pipe ends, then kill
// them all (async-signal-safe calls only: it runs in a forked child).
// A group id of 0 disarms it: the rank ended and is reaping its workers.
[[noreturn]] void guard_main(int fd, int cgroup_kill_fd, const char* cgroup_dir) {
  static pid_t groups[65536];
  size_t n = 0;
  pid_t g;
  for (;;) {
    const ssize_t r = ::read(fd, &g, sizeof g);
    if (r == sizeof g) {
      if (g == 0)
        ::_exit(0);
      if (n < std::size(groups))
        groups[n++] = g;
    } else if (r == 0 || errno != EINTR) {
      break;
    }
  }
  // The rank is gone without reaping: its workers' zombies (reparented)
  // may be reaped by now, so the cgroup first; the groups for where there
  // is none.
  if (cgroup_kill_fd >= 0)
    (void)!::write(cgroup_kill_fd, "1", 1);
  for (size_t i = 0; i < n; ++i)
    ::kill(-groups[i], SIGKILL);
  // The emptied cgroup goes too (rmdir fails while something is dying).
  const struct timespec tick = {0, 10'000'000};
  for (int i = 0; cgroup_dir && i < 500 && ::rmdir(cgroup_dir) != 0 && errno == EBUSY; ++i)
    ::nanosleep(&tick, nullptr);
  ::_exit(0);
}

} // namespace

Guard::Guard(int cgroup_kill_fd, const std::string& cgroup_dir) {
  const size_t title_space = command_line_length();
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw Error(fmt::format("pipe: {}", errno_text(errno)));
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  m_pid = ::fork();
  if (m_pid == 0) {
    ::close(p[1]);
    // Out of the rank's process group: a launcher that kills the rank's
    // group (Open MPI's daemon does) must not take the guard with it.
    ::setsid();
    // Its own name, so that people and tools (ps, pgrep -f, pkill -f) can
    // tell it from the rank it was forked from.
    ::prctl(PR_SET_NAME, "distenv-guard");
    if (title_space > sizeof k_guard_title) {
      std::memset(program_invocation_name, 0, title_space);
      std::memcpy(program_invocation_name, k_guard_title, sizeof k_guard_title);
    }
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
      ::sigaction(sig, &ign, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    guard_main(p[0], cgroup_kill_fd, cgroup_dir.empty() ? nullptr : cgroup_dir.c_str());
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(p[0]);
  m_fd = p[1];
}

Guard::~Guard() {
  disarm();
}

void Guard::disarm() {
  if (m_fd >= 0) {
    const pid_t done = 0;
    (void)!::write(m_fd, &done, sizeof done);
    ::close(m_fd);
    m_fd = -1;
  }
  if (m_pid > 0)
    retry_eintr([&] { return ::waitpid(m_pid, nullptr, 0); });
  m_pid = -1;
}

void Guard::watch(pid_t group) {
  if (m_fd >= 0)
    (void)!::write(m_fd, &group, sizeof group);
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (!proc)
    return out;
  while (struct dirent* d = ::readdir(proc)) {
    const pid_t p = static_cast<pid_t>(std::atoi(d->d_name));
    if (p <= 0)
      continue;
    std::string stat;
    try {
      stat = read_file(fmt::format("/proc/{}/stat", p));
    } catch (const std::exception&) {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos)
      continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == pid)
      out.push_back(p);
  }
  ::closedir(proc);
  return out;
}

size_t reap_strays(const std::vector<pid_t>& before) {
  size_t count = 0;
  for (int round = 0; round < 1000; ++round) {
    std::vector<pid_t> strays;
    for (pid_t p : children_of(::getpid()))
      if (std::find(before.begin(), before.end(), p) == before.end())
        strays.push_back(p);
    if (strays.empty())
      break;
    for (pid_t p : strays) {
      if (::getpgid(p) == p)
        ::kill(-p, SIGKILL);
      ::kill(p, SIGKILL);
    }
    for (pid_t p : strays)
      retry_eintr([&] { return ::waitpid(p, nullptr, 0); });
    count += strays.size();
  }
  return count;
}

ProcessRunner::ProcessRunner(int err_fd) : m_err_fd(err_fd), m_cgroup(JobCgroup::make()) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  m_before = children_of(::getpid());
}

Supervised ProcessRunner::run(const std::vector<Spec>& specs, const SuperviseOptions& options) {
  SuperviseOptions o = options;
  if (m_cgroup) {
    o.cgroup_procs_fd = m_cgroup->procs_fd();
    o.cgroup_kill_fd = m_cgroup->kill_fd();
    o.cgroup_dir = m_cgroup->path().string();
  }
  return supervise(specs, o);
}

ProcessRunner::~ProcessRunner() {
  size_t contained = 0; // what is left in the cgroup, wherever it went
  if (m_cgroup) {
    contained = m_cgroup->pids().size();
    if (contained)
      m_cgroup->kill_all();
  }
  if (const size_t strays = std::max(contained, reap_strays(m_before))) {
    const std::string line = fmt::format("distenv: stopped {} process{} that outlived the workers\n", strays,
                                         strays == 1 ? "" : "es");
    (void)write_fully(m_err_fd, line.data(), line.size());
  }
}

} // namespace distenv::workers
