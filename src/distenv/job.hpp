#pragma once

#include <distenv/cli/options.hpp>
#include <distenv/transport/comm.hpp>
#include <distenv/workers/supervisor.hpp>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace distenv {

// Watches a rank's job as it goes (a progress display; tests that inject
// faults). What it throws is a failure of that rank, at that point.
class JobObserver {
public:
  virtual ~JobObserver() = default;
  // This rank starts a phase: "read", "check", "transfer", "activate",
  // "each-machine", "workers", "report".
  virtual void phase(std::string_view name) { (void)name; }
  // This machine's installer has taken `bytes` of the stream (on the
  // installer's own thread).
  virtual void installed(uint64_t bytes) { (void)bytes; }
};

// Everything the job does outside its own memory, but for the disk of its
// store: the other machines, processes, the environment it was started
// with, and where it prints. run() passes the real ones; tests pass fakes.
struct JobContext {
  transport::Comm& world;
  std::string host;                     // this machine's name in messages and reports
  workers::Runner& runner;              // starts and supervises processes
  std::vector<std::string> environment; // KEY=VALUE: what workers inherit
  std::ostream& out;                    // rank 0's summary
  std::ostream& err;                    // rank 0's error lines
  JobObserver* observer = nullptr;
  std::FILE* progress = nullptr;        // rank 0's progress lines (stderr), or none
  std::chrono::milliseconds progress_interval{2000}; // the least time between two lines of a log
};

// The job: one rank per machine (or a singleton without mpirun): read,
// check, transfer, activate, each-machine, workers, report. Every failure
// is agreed by all ranks; returns the exit code every rank agreed on. A
// failure of the transport itself ends the job (Comm::abort).
int run_job(const cli::Options& o, JobContext& ctx);

// `--status`: one row per machine of the job (no install, no workers).
int run_status(const cli::Options& o, transport::Comm& world, const std::string& host);

// `--gc N`: on every machine, keep the N most recently used environments.
int run_gc(const cli::Options& o, transport::Comm& world, const std::string& host);

} // namespace distenv
