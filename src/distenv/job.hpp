#pragma once

#include <distenv/cli/options.hpp>
#include <distenv/job/context.hpp>

namespace distenv {

// The job: one rank per machine (or a singleton without mpirun): read,
// check, transfer, activate, each-machine, workers, report (job/*.hpp, one
// file per phase). Every failure is agreed by all ranks; returns the exit
// code every rank agreed on. A failure of the transport itself, or malformed
// data from a peer, ends the job (Comm::abort) with this machine named.
int run_job(const cli::Options& o, JobContext& ctx);

// `--status` and `--gc N` across the machines of the job (job/status.hpp),
// with the same ending for a failure of the transport.
int run_status(const cli::Options& o, JobContext& ctx);
int run_gc(const cli::Options& o, JobContext& ctx);

} // namespace distenv
