#pragma once

#include <distenv/transport/comm.hpp>
#include <distenv/workers/supervisor.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace distenv {

// The phases of a job, in order; one spelling each (observer, -v timings,
// the JSON report's phase_seconds).
enum class Phase {
  machines,
  read,
  check,
  transfer,
  depot,
  activate,
  compile,
  each_machine,
  workers,
  collect,
  report
};
std::string_view phase_name(Phase p);

// Watches a rank's job as it goes (a progress display; tests that inject
// faults). What it throws is a failure of that rank, at that point.
class JobObserver {
public:
  virtual ~JobObserver() = default;
  // This rank starts a phase (from read on).
  virtual void phase(Phase p) { (void)p; }
  // This machine's installer has taken `bytes` of the stream (on the
  // installer's own thread).
  virtual void installed(uint64_t bytes) { (void)bytes; }
};

// Everything a job does outside its own memory, but for the disk of its
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
  bool heartbeats = false; // `world` may be used from a second thread: heartbeats run
  int control_fd = -1;     // rank 0, --control-stdin: where control lines come from (run(): stdin)
  // A collecting rank beside the machines' (distenv run --collect from a
  // machine outside the job): `results` is the world that holds it, at rank
  // `collector`; `world` above is the machines' ranks alone (cluster::enter).
  transport::Comm* results = nullptr;
  int collector = -1;
  // This machine's compile class for the Julia at the given path
  // (env/julia_class.hpp when unset; tests give each machine its own).
  std::function<std::string(const std::string& julia)> julia_class{};

  std::FILE* progress = nullptr;                     // rank 0's progress lines (stderr), or none
  std::chrono::milliseconds progress_interval{2000}; // the least time between two lines of a log
};

} // namespace distenv
