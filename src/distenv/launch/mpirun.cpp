// The launcher as mpirun's parent: signals passed on once, and named.
#include <distenv/launch/mpirun.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/style.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace distenv::launch {

namespace {

volatile sig_atomic_t g_signal = 0; // the first SIGINT/SIGTERM/SIGHUP the launcher got
volatile pid_t g_mpirun = 0;

void on_signal(int sig) {
  if (!g_signal)
    g_signal = sig;
  if (g_mpirun > 0)
    ::kill(g_mpirun, sig);
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
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  const int e = ::posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (e != 0)
    throw Error(fmt::format("{}: {}", argv[0], std::strerror(e)), 127);
  g_mpirun = pid;
  if (g_signal) // came before mpirun was there to get it
    ::kill(pid, g_signal);
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
