#pragma once

#include <distenv/cli/options.hpp>

namespace distenv {

// The MPI job: one rank per machine (or a singleton without mpirun): read,
// agree, broadcast, install, each-machine, workers, report. Returns the exit
// code every rank agreed on.
int run_job(const cli::Options& o, int argc, const char* const* argv);

// `--status`: one row per machine of the job (no install, no workers).
int run_status(const cli::Options& o, int argc, const char* const* argv);

// `--gc N`: on every machine, keep the N most recently used environments.
int run_gc(const cli::Options& o, int argc, const char* const* argv);

} // namespace distenv
