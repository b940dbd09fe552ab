#pragma once

#include <boost/filesystem/path.hpp>

#include <optional>
#include <string>
#include <vector>

namespace distenv {

namespace fs = boost::filesystem;

// What a short helper program printed, and how it ended.
struct CommandResult {
  bool started = false;   // false: the program could not be run at all (not found, ...)
  bool timed_out = false; // killed (SIGKILL) after the time limit
  int status = -1;        // exit status, or 128 + signal
  std::string out, err;
};

struct CommandOptions {
  fs::path dir = ".";
  // The whole environment (KEY=VALUE); none: this process's.
  std::optional<std::vector<std::string>> env;
  // Set or replace these (KEY=VALUE) in that environment.
  std::vector<std::string> extra_env;
  double timeout_seconds = 0; // 0: none
};

// The one way distenv runs a helper program (git, `runtime --version`, the
// launcher's probes and bootstrap): argv[0] searched on PATH, no shell, stdin
// from /dev/null, stdout and stderr collected. For quick helpers, not
// workers (workers/supervisor.hpp: signals, prefixes, process groups).
CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

// The same, in `dir`.
inline CommandResult run_command(const std::vector<std::string>& argv, const fs::path& dir) {
  CommandOptions o;
  o.dir = dir;
  return run_command(argv, o);
}

} // namespace distenv
