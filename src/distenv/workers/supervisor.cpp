// Spawning, supervising and prefixing the output of workers.
#include <distenv/workers/supervisor.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/workers/activation.hpp>
#include <distenv/workers/guard.hpp>
#include <distenv/workers/line_buffer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace distenv::workers {

namespace {

int g_signal_pipe[2] = {-1, -1};

// The signal, and 0x80 when this process's parent sent it.
void on_signal(int sig, siginfo_t* info, void*) {
  const int saved = errno;
  if (sig == k_stop_signal)
    note_stop(); // the job's stop: later phases see it too
  unsigned char s = static_cast<unsigned char>(sig | (info && info->si_pid == ::getppid() ? 0x80 : 0));
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
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
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
  static constexpr int k_signals[] = {SIGINT, SIGTERM, SIGHUP, k_stop_signal};

private:
  struct sigaction m_old[4];
};

void write_all(int fd, const std::string& text) {
  (void)write_fully(fd, text.data(), text.size()); // our own output gone: keep supervising
}

struct Child {
  pid_t pid = -1;
  Fd out, err; // the read ends of its stdout and stderr
  Fd exit_fd;  // a pidfd: readable once it has exited (the supervisor wakes at once)
  LineBuffer out_lines, err_lines;
  bool exited = false;
  std::chrono::steady_clock::time_point exited_at;
  Exit exit;

  explicit Child(const std::string& label) : out_lines("[" + label + "] "), err_lines("[" + label + "] ") {}
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

// The child's environment: the spec's, with PWD naming the working directory
// as given (a shell's logical path: the project's stable place, not where
// its symlink leads). Points into `spec` and `pwd`.
std::vector<char*> environment_of(const Spec& spec, const std::string& pwd) {
  std::vector<char*> envp;
  for (const std::string& e : spec.env)
    if (spec.cwd.empty() || e.rfind("PWD=", 0) != 0)
      envp.push_back(const_cast<char*>(e.c_str()));
  if (!spec.cwd.empty())
    envp.push_back(const_cast<char*>(pwd.c_str()));
  envp.push_back(nullptr);
  return envp;
}

// fork + exec with everything the child needs prepared before the fork:
// between fork and exec only async-signal-safe calls are made.
void spawn(const Spec& spec, Child& child, int cgroup_procs_fd) {
  const std::string program =
      find_program(spec.argv.empty() ? "" : spec.argv[0], env_value(spec.env, "PATH"));
  if (program.empty()) {
    child.exit.error =
        fmt::format("cannot run '{}': not found on PATH", spec.argv.empty() ? "" : spec.argv[0]);
    child.exited = true;
    return;
  }
  std::vector<char*> argv;
  for (const std::string& a : spec.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string pwd = "PWD=" + spec.cwd.string();
  std::vector<char*> envp = environment_of(spec, pwd);
  Pipe out_pipe = Pipe::make(), err_pipe = Pipe::make(), status = Pipe::make();
  // Plain numbers for the child: it may only make async-signal-safe calls.
  const int out[2] = {out_pipe.read.get(), out_pipe.write.get()},
            err[2] = {err_pipe.read.get(), err_pipe.write.get()};
  const int status_pipe[2] = {status.read.get(), status.write.get()};
  const pid_t parent = ::getpid();
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old); // no handler may run in the child
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    if (cgroup_procs_fd >= 0) // into the job's cgroup, before anything runs
      (void)!::write(cgroup_procs_fd, "0", 1);
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
  out_pipe.write.reset();
  err_pipe.write.reset();
  status.write.reset();
  if (pid < 0)
    throw Error(fmt::format("fork: {}", errno_text(fork_errno)));
  ::setpgid(pid, pid); // also from here: no race with an early kill
  int e = 0;
  ssize_t n;
  n = read_some(status.read.get(), &e, sizeof e);
  status.read.reset();
  child.pid = pid;
  child.exit_fd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); // none before Linux 5.3: polled
  child.out = std::move(out_pipe.read);
  child.err = std::move(err_pipe.read);
  if (n == sizeof e)
    child.exit.error =
        fmt::format("cannot run '{}' in {}: {}", spec.argv[0], spec.cwd.string(), errno_text(e));
}

} // namespace

std::string Supervised::interruption() const {
  if (interrupted_by == k_stop_signal)
    return k_stop_message;
  if (by_parent)
    return fmt::format("stopped by mpirun (SIG{})", sigabbrev_np(interrupted_by));
  return fmt::format("interrupted by signal {} ({})", interrupted_by, strsignal(interrupted_by));
}

std::string Exit::describe() const {
  if (!error.empty())
    return error;
  if (ended_as_asked())
    return fmt::format("ended by signal {} ({}), as asked", asked, strsignal(asked));
  if (signal)
    return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exited with {}", code);
}

namespace {

using clock = std::chrono::steady_clock;

// One supervise() call: its children and how far their stopping has gone.
struct Run {
  const SuperviseOptions& options;
  std::vector<std::unique_ptr<Child>> children;
  Supervised result;
  bool stopping = false, killed = false;
  clock::time_point kill_at{};
};

// Notes which children have exited, without reaping them: a zombie keeps
// its pid, and so its process group's id, from being given to another
// process until finish() has killed the group. True when every child has
// exited and its output is drained.
bool note_exits(Run& run) {
  bool all_done = true;
  for (auto& c : run.children) {
    siginfo_t info{};
    if (c->pid > 0 && !c->exited &&
        ::waitid(P_PID, static_cast<id_t>(c->pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == c->pid) {
      c->exited = true;
      c->exited_at = clock::now();
      if (info.si_code == CLD_EXITED)
        c->exit.code = info.si_status;
      else
        c->exit.signal = info.si_status;
    }
    // A child that exited but whose pipes a grandchild still holds is
    // given two seconds to finish writing.
    if (c->exited && (c->out || c->err) && clock::now() - c->exited_at > std::chrono::seconds(2)) {
      c->out.reset();
      c->err.reset();
    }
    if (!c->exited || c->out || c->err)
      all_done = false;
  }
  return all_done;
}

void signal_running(Run& run, int sig) {
  for (auto& c : run.children)
    if (c->pid > 0 && !c->exited)
      ::kill(-c->pid, sig);
}

// A signal to this process, or should_stop(): SIGTERM now, SIGKILL after
// the grace period.
void check_stop(Run& run, int signal_fd, bool signalled) {
  bool stop = false;
  if (signalled) {
    unsigned char sig = 0;
    while (::read(signal_fd, &sig, 1) == 1)
      if (!run.result.interrupted_by) {
        run.result.interrupted_by = sig & 0x7f;
        run.result.by_parent = sig & 0x80;
        stop = true;
      }
  }
  if (!run.result.stopped && run.options.should_stop && run.options.should_stop()) {
    run.result.stopped = true;
    stop = true;
  }
  if (run.options.take_signals)
    for (const auto& [index, sig] : run.options.take_signals())
      if (index < run.children.size() && run.children[index]->pid > 0 && !run.children[index]->exited) {
        ::kill(-run.children[index]->pid, sig); // not reaped yet: the group is still its own
        run.children[index]->exit.asked = sig;
      }
  if (stop && !run.stopping) {
    run.stopping = true;
    signal_running(run, SIGTERM);
    run.kill_at =
        clock::now() + std::chrono::milliseconds(static_cast<int>(run.options.grace_seconds * 1000));
  }
}

// Waits (at most 100 ms) for output or a signal, and forwards what came,
// line by line with each child's prefix.
void forward_output(Run& run, int signal_fd) {
  std::vector<pollfd> fds{{signal_fd, POLLIN, 0}};
  std::vector<std::pair<Child*, bool>> owners{{nullptr, false}};
  for (auto& c : run.children)
    for (const bool is_out : {true, false})
      if (const int fd = (is_out ? c->out : c->err).get(); fd >= 0) {
        fds.push_back({fd, POLLIN, 0});
        owners.emplace_back(c.get(), is_out);
      }
  const size_t outputs = fds.size();
  for (auto& c : run.children) // a child's exit wakes the poll, not its timeout
    if (!c->exited && c->exit_fd)
      fds.push_back({c->exit_fd.get(), POLLIN, 0});
  ::poll(fds.data(), fds.size(), 100);
  check_stop(run, signal_fd, fds[0].revents & POLLIN);
  char buf[65536];
  for (size_t i = 1; i < outputs; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    Child& c = *owners[i].first;
    const bool is_out = owners[i].second;
    Fd& fd = is_out ? c.out : c.err;
    LineBuffer& lines = is_out ? c.out_lines : c.err_lines;
    const int dest = is_out ? run.options.out_fd : run.options.err_fd;
    const ssize_t n = read_some(fd.get(), buf, sizeof buf);
    if (n > 0) {
      write_all(dest, lines.feed(std::string_view(buf, static_cast<size_t>(n))));
    } else {
      write_all(dest, lines.flush());
      fd.reset();
    }
  }
}

// What a worker left running in its group goes with it; the guard is told
// it has nothing left to do; only then is each worker reaped (until then
// its pid, the group's id, cannot be given to another process, so neither
// this kill nor the guard's can reach one).
void finish(Run& run, Guard& guard) {
  for (auto& c : run.children)
    if (c->pid > 0)
      ::kill(-c->pid, SIGKILL);
  guard.disarm();
  for (auto& c : run.children) {
    if (c->pid > 0)
      retry_eintr([&] { return ::waitpid(c->pid, nullptr, 0); });
    write_all(run.options.out_fd, c->out_lines.flush());
    write_all(run.options.err_fd, c->err_lines.flush());
    run.result.exits.push_back(c->exit);
  }
}

// Each child holds two descriptors here while it runs (and a third while
// it starts): raise the soft limit toward the hard one when the default
// (1024) would not fit --workers 4096.
void fit_descriptor_limit(size_t children) {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return;
  const rlim_t need = static_cast<rlim_t>(3 * children + 64);
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < need) {
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? need : std::min(need, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit); // if it cannot, the spawn says why (EMFILE)
  }
}

} // namespace

Supervised supervise(const std::vector<Spec>& specs, const SuperviseOptions& options) {
  fit_descriptor_limit(specs.size());
  SignalForwarding signals;
  Guard guard(options.cgroup_kill_fd, options.cgroup_dir);
  Run run{options, {}, {}};
  for (const Spec& spec : specs) {
    run.children.push_back(std::make_unique<Child>(spec.label));
    run.children.back()->exit.label = spec.label;
    spawn(spec, *run.children.back(), options.cgroup_procs_fd);
    if (run.children.back()->pid > 0)
      guard.watch(run.children.back()->pid);
  }
  while (!note_exits(run)) {
    if (run.stopping && !run.killed && clock::now() >= run.kill_at) {
      signal_running(run, SIGKILL);
      run.killed = true;
    }
    forward_output(run, signals.fd());
  }
  finish(run, guard);
  return run.result;
}

} // namespace distenv::workers
