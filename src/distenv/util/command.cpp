// Running a short helper program and collecting its output.
#include <distenv/util/command.hpp>

#include <distenv/util/fd.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace distenv {

namespace {

std::vector<std::string> environment_for(const CommandOptions& o) {
  std::vector<std::string> env;
  if (o.env)
    env = *o.env;
  else
    for (char** e = environ; *e; ++e)
      env.emplace_back(*e);
  auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=') + 1); };
  for (const std::string& extra : o.extra_env) {
    std::erase_if(env, [&](const std::string& kv) { return key(kv) == key(extra); });
    env.push_back(extra);
  }
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& words) {
  std::vector<char*> out;
  for (std::string& w : words)
    out.push_back(w.data());
  out.push_back(nullptr);
  return out;
}

pid_t spawn(std::vector<std::string> argv, const CommandOptions& o, const Pipe& out, const Pipe& err) {
  std::vector<std::string> env = environment_for(o);
  std::vector<char*> args = pointers(argv), envp = pointers(env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err.write.get(), 2);
  posix_spawn_file_actions_addchdir_np(&actions, o.dir.c_str());
  // argv[0] is searched on this process's PATH.
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Reads both pipes to their ends; false when the time limit came first.
bool collect(Pipe& out, Pipe& err, CommandResult& r, double timeout_seconds) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(timeout_seconds));
  struct pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  for (int open_count = 2; open_count > 0;) {
    int wait_ms = -1;
    if (timeout_seconds > 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (left <= 0)
        return false;
      wait_ms = static_cast<int>(std::min<long long>(left, 1000));
    }
    if (::poll(fds, 2, wait_ms) < 0 && errno != EINTR)
      return true;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buf[65536];
      const ssize_t n = read_some(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  return true;
}

} // namespace

CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options) {
  CommandResult r;
  if (argv.empty())
    return r;
  Pipe out = Pipe::make(), err = Pipe::make();
  const pid_t pid = spawn(argv, options, out, err);
  out.write.reset();
  err.write.reset();
  if (pid < 0)
    return r;
  r.started = true;
  if (!collect(out, err, r, options.timeout_seconds)) {
    ::kill(pid, SIGKILL);
    r.timed_out = true;
  }
  int status = 0;
  retry_eintr([&] { return ::waitpid(pid, &status, 0); });
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

} // namespace distenv
