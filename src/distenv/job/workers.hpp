#pragma once

#include <distenv/job/activate.hpp>
#include <distenv/job/session.hpp>

#include <string>
#include <vector>

namespace distenv::job {

// The job's workers, numbered across machines.
struct Numbering {
  int local = 0;           // workers on this machine (0: none, or not a leader)
  int first = 0;           // the global id of the first
  int total = 0;           // on every machine
  std::vector<int> counts; // of each rank, by rank
};

// The worker command: the command line's, else the environment's.
std::vector<std::string> command_of(const Session& s, const Installed& in);

// Workers per machine (--workers, else SLURM's CPUs on the node, else the
// machine's hardware threads), all-gathered to number them globally.
Numbering number_workers(Session& s, const Installed& in);

// Phase workers: each leader starts its workers with the environment
// active and supervises them (a stoppable phase: a failure elsewhere stops
// them); every machine's encoded report::MachineResult reaches rank 0.
std::vector<std::string> run_workers(Session& s, const Installed& in, const Numbering& n);

} // namespace distenv::job
