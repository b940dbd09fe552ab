#pragma once

#include <string>
#include <vector>

namespace distenv::test {

struct ProcessResult {
  int exit_code = -1; // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv (no shell) with optional extra environment ("K=V"), waits, and
// returns its exit code and output.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env = {});

// distenv-bootstrap from this build, with `args`.
ProcessResult run_bootstrap(const std::vector<std::string>& args);

} // namespace distenv::test
