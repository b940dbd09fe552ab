#pragma once

#include <boost/filesystem/path.hpp>

#include <string>
#include <vector>

namespace distenv {

namespace fs = boost::filesystem;

// What a short helper program printed, and how it ended.
struct CommandResult {
  bool started = false; // false: the program could not be run at all (not found, ...)
  int status = -1;      // exit status, or 128 + signal
  std::string out, err;
};

// Runs argv[0] (searched on PATH) in `dir` with stdin from /dev/null and
// returns what it wrote to stdout and stderr. For quick helpers (git), not
// workers: no time limit, no signal forwarding.
CommandResult run_command(const std::vector<std::string>& argv, const fs::path& dir);

} // namespace distenv
