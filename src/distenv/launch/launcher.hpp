#pragma once

#include <boost/filesystem/path.hpp>

#include <optional>
#include <string>
#include <vector>

namespace distenv::launch {

namespace fs = boost::filesystem;

// `distenv`: the user's front end. It writes the mpirun line (one rank per
// machine) for distenv-bootstrap, probes the machines first, and runs the
// modes that need no MPI directly:
//   distenv run | status | gc   [HOSTS] [LAUNCH OPTIONS] [BOOTSTRAP OPTIONS] [-- CMD ARGS...]
//   distenv plan | path | pack | install   [BOOTSTRAP OPTIONS]
//   distenv version
enum class Subcommand { help, run, status, plan, gc, path, pack, install, version };
// "run", "status", ...: as the command line spells it.
const char* subcommand_name(Subcommand s);
// run, status and gc start an MPI job over the machines.
bool launches(Subcommand s);

struct Command {
  Subcommand mode = Subcommand::help;
  Subcommand help_for = Subcommand::help; // `distenv path --help`: path
  fs::path hostfile;
  std::vector<std::string> hosts;   // --hosts a,b,c
  std::vector<std::string> mca;     // KEY VALUE pairs, flattened
  std::vector<std::string> forward; // -x VAR
  bool skip_unreachable = false;
  double probe_timeout = 10;
  std::string mpirun = "mpirun";
  bool dry_run = false;
  int keep = 3;                            // gc
  std::vector<std::string> bootstrap_args; // passed through, in order
  std::vector<std::string> command;        // after --
  // -q / --quiet among the bootstrap's options: the launcher's warnings go too.
  bool quiet() const {
    for (const std::string& a : bootstrap_args)
      if (a == "-q" || a == "--quiet")
        return true;
    return false;
  }
};

// Parses the command line (argv[0] is the program). Bad input throws
// InputError; `--help` prints and returns nullopt.
std::optional<Command> parse(int argc, const char* const* argv);

// The command that runs: mpirun ... distenv-bootstrap ... for run, status
// and gc (`machines` as given, this machine first when listed: rank 0 reads
// the environment); distenv-bootstrap alone for the other modes.
// `environment` is KEY=VALUE: what is set decides what is forwarded. A job
// that `collects` outputs from machines that do not include this one gets
// a collecting rank here (a second app context: `: -np 1 --host <this
// machine> distenv-bootstrap --collector ...`): results come back through
// the job to the machine distenv run was started on.
std::vector<std::string> command_line(const Command& c, const std::vector<std::string>& machines,
                                      const std::string& bootstrap,
                                      const std::vector<std::string>& environment, bool as_root,
                                      bool collects = false);

// Shell-quotes one word for a line a person can paste (`--dry-run`).
std::string shell_quote(const std::string& word);

// The whole program: exit code (0, 1 failure, 2 bad input).
int main(int argc, const char* const* argv);

} // namespace distenv::launch
