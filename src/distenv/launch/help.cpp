// The launcher's help: the whole of it, or one subcommand's.
#include <distenv/launch/help.hpp>

#include <distenv/util/command.hpp>

#include <cstdio>

namespace distenv::launch {

namespace {

const char* const k_usage =
    R"(distenv: install a development environment on every machine of a job and run workers there.

  distenv run     [HOSTS] [LAUNCH OPTIONS] [BOOTSTRAP OPTIONS] [-- CMD ARGS...]
  distenv status  [HOSTS] [LAUNCH OPTIONS] [BOOTSTRAP OPTIONS]
  distenv gc      [HOSTS] [LAUNCH OPTIONS] [--keep N] [--dry-run] [BOOTSTRAP OPTIONS]
                  keep the N (default 3) most recently used environments in --dest on every
                  machine, remove the others (never one in use) and list them; --dry-run lists
                  what it would remove and removes nothing
  distenv plan    [BOOTSTRAP OPTIONS]      what would ship and where (this machine, no MPI)
  distenv path    [-p DIR] [-d DEST]       the installed project directory: the same path on every
                  machine for the same --dest (Distributed's addprocs(...; dir=DIR,
                  exeflags="--project=DIR")); no MPI
  distenv pack    --pack-to FILE [BOOTSTRAP OPTIONS]                  the packed environment, to a file
  distenv install --install-from FILE [--tree-hash H] [-d DEST]       install such a file here
  distenv version                          versions of distenv, MPI and libraries

HOSTS:  -H, --hostfile FILE   machines, one per line (a slots= count is ignored)
        --hosts A,B,C         machines on the command line
        (neither: the SLURM/PBS allocation, or this machine)
LAUNCH OPTIONS:
  --mca KEY VALUE      passed to mpirun (repeatable)
  -x VAR               forward an environment variable (repeatable); DISTENV_DEST,
                       DISTENV_BOOTSTRAP and JULIA_* variables that are set are always forwarded
  --skip-unreachable   probe every machine first and run on those that answer
  --probe-timeout S    seconds a machine has to answer the probe (default 10)
  --mpirun PATH        the mpirun to use (default: mpirun on PATH)
  --dry-run            print the command line and exit (gc: see above)
Rank 0 (the first machine; this one when it is listed) reads the environment.
Machines are probed through the agent mpirun itself would use
(OMPI_MCA_plm_rsh_agent, else ssh); an unreachable machine is named and the
run stops before mpirun starts, unless --skip-unreachable.
Workers write results into $DISTENV_OUTPUT (each machine's own directory for
the job); --collect GLOB brings what matches back to ./distenv-results/<job>/<host>
here at the end, through the job (a collecting rank on this machine when it is
not one of the job's). Ctrl-C stops the job on every machine, workers getting
their --grace; a second Ctrl-C stops it at once.
BOOTSTRAP OPTIONS: anything distenv-bootstrap takes (listed below).
)";

// What a subcommand without MPI takes, for `distenv SUB --help`.
const char* own_help(Subcommand s) {
  switch (s) {
  case Subcommand::plan:
    return R"(usage: distenv plan [-p DIR] [-d DEST] [--report FILE] [BOOTSTRAP OPTIONS]

What would ship and where, read on this machine (no MPI, nothing written): the
roots, every dev package with its source and installed path, file and byte
counts, the tree hash, the install root and every rewritten manifest path.
  -p, --project DIR   the environment (default: the current directory)
  -d, --dest DIR      the store it would go to (default $DISTENV_DEST, else /tmp/distenv-<user>)
  --report FILE       the same as JSON
Other bootstrap options that change what ships (--julia-version, --test-deps,
--no-gitignore, --depot, ...) apply too: distenv-bootstrap --help.
)";
  case Subcommand::path:
    return R"(usage: distenv path [-p DIR] [-d DEST] [-q]

The installed project directory: the same path on every machine for the same
--dest (for Distributed's addprocs(...; dir=DIR, exeflags="--project=DIR")).
No MPI; a warning when it is not installed on this machine.
  -p, --project DIR   the environment (default: the current directory)
  -d, --dest DIR      the store (default $DISTENV_DEST, else /tmp/distenv-<user>)
  -q, --quiet         no warning
)";
  case Subcommand::pack:
    return R"(usage: distenv pack --pack-to FILE [-p DIR] [--zstd-level N] [BOOTSTRAP OPTIONS]

The packed environment (tar + zstd), to a file, for `distenv install` where
there is no MPI job to send it; prints its tree hash.
)";
  case Subcommand::install:
    return R"(usage: distenv install --install-from FILE [--tree-hash H] [-d DEST]

Installs a file `distenv pack` wrote into this machine's store, verified
(against --tree-hash H when given: 32 hex digits).
)";
  case Subcommand::version:
    return R"(usage: distenv version   (or distenv --version)

Versions of distenv, distenv-bootstrap, MPI and the libraries.
)";
  default:
    return nullptr;
  }
}

} // namespace

void print_help(Subcommand for_, const std::string& bootstrap) {
  if (const char* own = own_help(for_)) {
    std::fputs(own, stdout);
    return;
  }
  if (for_ != Subcommand::help)
    std::printf("usage: distenv %s [HOSTS] [LAUNCH OPTIONS] [BOOTSTRAP OPTIONS]%s\n\n", subcommand_name(for_),
                for_ == Subcommand::run ? " [-- CMD ARGS...]" : "");
  std::fputs(k_usage, stdout);
  std::fflush(stdout);
  const CommandResult help = run_command({bootstrap, "--help"}, ".");
  const size_t options = help.out.find("Options:");
  if (options != std::string::npos)
    std::printf("\ndistenv-bootstrap's options (BOOTSTRAP OPTIONS):%s", help.out.substr(options + 8).c_str());
}

} // namespace distenv::launch
