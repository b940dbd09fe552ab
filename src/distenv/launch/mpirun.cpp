// The launcher as mpirun's parent: signals passed on once, and named.
#include <distenv/launch/mpirun.hpp>

#include <distenv/launch/stderr_filter.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/util/style.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>

namespace distenv::launch {

namespace {

volatile sig_atomic_t g_signal = 0;  // the first SIGINT/SIGTERM/SIGHUP the launcher got
volatile sig_atomic_t g_signals = 0; // how many
volatile pid_t g_mpirun = 0;

// The first: the job's tidy stop (SIGUSR2, which mpirun forwards to every
// rank: util/interrupt.hpp); a second: mpirun's own (it signals the ranks
// and kills them a second later).
void pass_on(int sig) {
  if (g_mpirun > 0)
    ::kill(g_mpirun, g_signals > 1 ? sig : k_stop_signal);
}

void on_signal(int sig) {
  if (!g_signal)
    g_signal = sig;
  g_signals = g_signals + 1;
  pass_on(sig);
}

} // namespace

int run_mpirun(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    ::sigaction(sig, &sa, nullptr);
  // mpirun's stderr comes through here (StderrFilter); rank 0 still shows
  // a live progress line when ours is a terminal (util/style.cpp).
  if (::isatty(STDERR_FILENO))
    ::setenv("DISTENV_STDERR_TERMINAL", "1", 1);
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw Error(fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, err_pipe[1], STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  const int e = ::posix_spawnp(&pid, args[0], &files, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&files);
  ::close(err_pipe[1]);
  if (e != 0) {
    ::close(err_pipe[0]);
    throw Error(fmt::format("{}: {}", argv[0], std::strerror(e)), 127);
  }
  g_mpirun = pid;
  if (g_signal) // came before mpirun was there to get it
    pass_on(g_signal);
  StderrFilter filter([](std::string_view s) { (void)write_fully(STDERR_FILENO, s.data(), s.size()); });
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(err_pipe[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (g_signal)
      filter.explained(); // the launcher names the signal: the ranks' exit codes say nothing more
    filter.feed(std::string_view(buffer, static_cast<size_t>(n)));
  }
  filter.finish();
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (g_signal) {
    const char* abbrev = ::sigabbrev_np(g_signal);
    const std::string name = abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", int(g_signal));
    std::fprintf(stderr, "%sinterrupted by %s: the job was stopped on every machine\n",
                 error_prefix().c_str(), name.c_str());
    return 128 + g_signal;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace distenv::launch
