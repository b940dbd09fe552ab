// Spawning, supervising and prefixing the output of workers.
#include <distenv/workers/supervisor.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/workers/activation.hpp>
#include <distenv/workers/line_buffer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <dirent.h>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace distenv::workers {

namespace {

int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  const int saved = errno;
  unsigned char s = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_pipe[1], &s, 1);
  errno = saved;
}

// Installs the forwarding handlers for the lifetime of one supervise() call.
class SignalForwarding {
public:
  SignalForwarding() {
    if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
      throw Error(fmt::format("pipe: {}", errno_text(errno)));
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(k_signals); ++i)
      ::sigaction(k_signals[i], &sa, &m_old[i]);
  }
  ~SignalForwarding() {
    for (size_t i = 0; i < std::size(k_signals); ++i)
      ::sigaction(k_signals[i], &m_old[i], nullptr);
    ::close(g_signal_pipe[0]);
    ::close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  }
  int fd() const { return g_signal_pipe[0]; }
  static constexpr int k_signals[] = {SIGINT, SIGTERM, SIGHUP};

private:
  struct sigaction m_old[3];
};

void write_all(int fd, const std::string& text) {
  (void)write_fully(fd, text.data(), text.size()); // our own output gone: keep supervising
}

struct Child {
  pid_t pid = -1;
  int out = -1, err = -1;
  LineBuffer out_lines, err_lines;
  bool exited = false;
  std::chrono::steady_clock::time_point exited_at;
  Exit exit;

  explicit Child(const std::string& label)
      : out_lines("[" + label + "] "), err_lines("[" + label + "] ") {}
};

// Closes descriptors [first, last] (async-signal-safe).
void close_from_to(int first, int last) {
  if (first > last)
    return;
  if (::close_range(static_cast<unsigned>(first), static_cast<unsigned>(last), 0) == 0)
    return;
  const long max = ::sysconf(_SC_OPEN_MAX);
  for (int fd = first; fd <= last && fd < (max > 0 && max < 65536 ? max : 65536); ++fd)
    ::close(fd);
}

// The children of process `pid` (from /proc/*/stat).
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

// Every child that was not there `before` is a stray: killed and reaped,
// until none is left. Returns how many there were.
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
      while (::waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
      }
    count += strays.size();
  }
  return count;
}

// fork + exec with everything the child needs prepared before the fork:
// between fork and exec only async-signal-safe calls are made.
void spawn(const Spec& spec, Child& child) {
  const std::string program = find_program(spec.argv.empty() ? "" : spec.argv[0], env_value(spec.env, "PATH"));
  if (program.empty()) {
    child.exit.error = fmt::format("cannot run '{}': not found on PATH", spec.argv.empty() ? "" : spec.argv[0]);
    child.exited = true;
    return;
  }
  std::vector<char*> argv, envp;
  for (const std::string& a : spec.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : spec.env)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int out[2], err[2], status_pipe[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(status_pipe, O_CLOEXEC) != 0)
    throw Error(fmt::format("pipe: {}", errno_text(errno)));
  const pid_t parent = ::getpid();
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old); // no handler may run in the child
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127); // the rank died before we got here
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
      ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, 0);
    // Nothing of the rank's but stdio: no MPI sockets or pipes (a daemon that
    // kept them would keep the job's launcher and output alive), no store locks.
    const int keep = status_pipe[1]; // close-on-exec: tells the parent if exec fails
    close_from_to(3, keep - 1);
    close_from_to(keep + 1, INT_MAX);
    int e = 0;
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0)
      e = errno;
    else {
      ::execve(program.c_str(), argv.data(), envp.data());
      e = errno;
    }
    (void)!::write(status_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(out[1]);
  ::close(err[1]);
  ::close(status_pipe[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    ::close(status_pipe[0]);
    throw Error(fmt::format("fork: {}", errno_text(fork_errno)));
  }
  ::setpgid(pid, pid); // also from here: no race with an early kill
  int e = 0;
  ssize_t n;
  while ((n = ::read(status_pipe[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  ::close(status_pipe[0]);
  child.pid = pid;
  child.out = out[0];
  child.err = err[0];
  if (n == sizeof e)
    child.exit.error = fmt::format("cannot run '{}' in {}: {}", spec.argv[0], spec.cwd.string(), errno_text(e));
}

constexpr char k_guard_title[] = "distenv-guard";

// Bytes of this process's command line (argv's strings, laid out one after
// the other from argv[0]), as /proc/self/cmdline shows them.
size_t command_line_length() {
  int fd = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  size_t total = 0;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    total += static_cast<size_t>(n);
  ::close(fd);
  return total;
}

// A process that outlives a SIGKILLed rank just long enough to kill its
// workers' process groups (PR_SET_PDEATHSIG reaches only the workers
// themselves, not what they started). It reads process-group ids from a pipe
// and, at end of file (the rank is gone, or done), kills every group.
class Guard {
public:
  Guard() {
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
      static pid_t groups[65536];
      size_t n = 0;
      pid_t g;
      for (;;) {
        ssize_t r = ::read(p[0], &g, sizeof g);
        if (r == sizeof g) {
          if (n < std::size(groups))
            groups[n++] = g;
        } else if (r == 0 || errno != EINTR) {
          break;
        }
      }
      for (size_t i = 0; i < n; ++i)
        ::kill(-groups[i], SIGKILL);
      ::_exit(0);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ::close(p[0]);
    m_fd = p[1];
  }
  ~Guard() {
    if (m_fd >= 0)
      ::close(m_fd);
    if (m_pid > 0)
      while (::waitpid(m_pid, nullptr, 0) < 0 && errno == EINTR) {
      }
  }
  void watch(pid_t group) {
    if (m_fd >= 0)
      (void)!::write(m_fd, &group, sizeof group);
  }

private:
  pid_t m_pid = -1;
  int m_fd = -1;
};

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

} // namespace

ProcessRunner::ProcessRunner(int err_fd) : m_err_fd(err_fd) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  m_before = children_of(::getpid());
}

ProcessRunner::~ProcessRunner() {
  if (const size_t strays = reap_strays(m_before))
    write_all(m_err_fd, fmt::format("distenv: stopped {} process{} that outlived the workers\n", strays,
                                    strays == 1 ? "" : "es"));
}

std::string Exit::describe() const {
  if (!error.empty())
    return error;
  if (signal)
    return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exited with {}", code);
}

Supervised supervise(const std::vector<Spec>& specs, const SuperviseOptions& options) {
  using clock = std::chrono::steady_clock;
  SignalForwarding signals;
  Guard guard;
  Supervised result;
  std::vector<std::unique_ptr<Child>> children;
  for (const Spec& spec : specs) {
    children.push_back(std::make_unique<Child>(spec.label));
    children.back()->exit.label = spec.label;
    spawn(spec, *children.back());
    if (children.back()->pid > 0)
      guard.watch(children.back()->pid);
  }
  bool stopping = false, killed = false;
  clock::time_point kill_at{};
  char buf[65536];
  for (;;) {
    // Reap.
    bool all_done = true;
    for (auto& c : children) {
      if (c->pid > 0 && !c->exited) {
        int status = 0;
        pid_t r = ::waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid) {
          c->exited = true;
          c->exited_at = clock::now();
          if (WIFEXITED(status))
            c->exit.code = WEXITSTATUS(status);
          else if (WIFSIGNALED(status))
            c->exit.signal = WTERMSIG(status);
        }
      }
      // A child that exited but whose pipes a grandchild still holds is
      // given two seconds to finish writing.
      if (c->exited && (c->out >= 0 || c->err >= 0) && clock::now() - c->exited_at > std::chrono::seconds(2)) {
        close_fd(c->out);
        close_fd(c->err);
      }
      if (!c->exited || c->out >= 0 || c->err >= 0)
        all_done = false;
    }
    if (all_done)
      break;
    if (stopping && !killed && clock::now() >= kill_at) {
      for (auto& c : children)
        if (c->pid > 0 && !c->exited)
          ::kill(-c->pid, SIGKILL);
      killed = true;
    }
    // Wait for output or a signal.
    std::vector<pollfd> fds{{signals.fd(), POLLIN, 0}};
    std::vector<std::pair<Child*, bool>> owners{{nullptr, false}};
    for (auto& c : children) {
      if (c->out >= 0) {
        fds.push_back({c->out, POLLIN, 0});
        owners.emplace_back(c.get(), true);
      }
      if (c->err >= 0) {
        fds.push_back({c->err, POLLIN, 0});
        owners.emplace_back(c.get(), false);
      }
    }
    ::poll(fds.data(), fds.size(), 100);
    bool stop = false;
    if (fds[0].revents & POLLIN) {
      unsigned char sig = 0;
      while (::read(signals.fd(), &sig, 1) == 1)
        if (!result.interrupted_by) {
          result.interrupted_by = sig;
          stop = true;
        }
    }
    if (!result.stopped && options.should_stop && options.should_stop()) {
      result.stopped = true;
      stop = true;
    }
    if (stop && !stopping) { // SIGTERM now, SIGKILL after the grace period
      stopping = true;
      for (auto& c : children)
        if (c->pid > 0 && !c->exited)
          ::kill(-c->pid, SIGTERM);
      kill_at = clock::now() + std::chrono::milliseconds(static_cast<int>(options.grace_seconds * 1000));
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      Child& c = *owners[i].first;
      const bool is_out = owners[i].second;
      int& fd = is_out ? c.out : c.err;
      LineBuffer& lines = is_out ? c.out_lines : c.err_lines;
      const int dest = is_out ? options.out_fd : options.err_fd;
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        write_all(dest, lines.feed(std::string_view(buf, static_cast<size_t>(n))));
      } else if (n == 0 || errno != EINTR) {
        write_all(dest, lines.flush());
        close_fd(fd);
      }
    }
  }
  for (auto& c : children) {
    if (c->pid > 0)
      ::kill(-c->pid, SIGKILL); // what a worker left running in its group goes with it
    write_all(options.out_fd, c->out_lines.flush());
    write_all(options.err_fd, c->err_lines.flush());
    result.exits.push_back(c->exit);
  }
  return result;
}

} // namespace distenv::workers
