// Running the real distenv-bootstrap (and other programs) from tests.
#include "support/process.hpp"

#include <distenv/util/command.hpp>

#include <stdexcept>

namespace distenv::test {

ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  CommandOptions o;
  o.extra_env = extra_env;
  const CommandResult r = run_command(argv, o); // the one process runner, as distenv's own helpers use it
  if (!r.started)
    throw std::runtime_error("cannot spawn " + argv.at(0));
  return {r.status, r.out, r.err};
}

ProcessResult run_bootstrap(const std::vector<std::string>& args) {
  std::vector<std::string> argv{DISTENV_BOOTSTRAP};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

} // namespace distenv::test
