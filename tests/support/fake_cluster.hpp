#pragma once

#include <distenv/cli/options.hpp>
#include <distenv/job.hpp>
#include <distenv/workers/supervisor.hpp>

#include <boost/filesystem/path.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace distenv::test {

namespace fs = boost::filesystem;

// What the fake process runner does on one machine.
struct FakeProcesses {
  int each_machine_status = 0;             // every each-machine command ends with this
  int worker_status = 0;                   // every worker ends with this
  bool cannot_start = false;               // starting the workers throws (fork failed)
  int signal = 0;                          // the machine receives this signal while its workers run
  bool run_until_stopped = false;          // workers run until the job stops them (a long sweep)
  bool run_until_signalled = false;        // each worker runs until a signal for it (take_signals) ends it
  std::function<void()> while_workers_run; // called once the workers "started"
  std::function<void(const workers::Spec&)> each_worker; // what each worker "does" (before it ends)
  // The compile phase's Julia steps (labels "<host>:compile", ":check",
  // ":instantiate"): what each does, and its exit status (0 when unset).
  std::function<int(const workers::Spec&)> julia_step;
};

// A process runner that starts nothing: it records what it was asked to run
// and answers as FakeProcesses says. Thread-safe per instance (one per rank).
class FakeRunner : public workers::Runner {
public:
  explicit FakeRunner(FakeProcesses behaviour) : m_behaviour(std::move(behaviour)) {}
  workers::Supervised run(const std::vector<workers::Spec>& specs,
                          const workers::SuperviseOptions& options) override;

  std::vector<workers::Spec> each_machine;
  std::vector<workers::Spec> workers;
  std::vector<workers::Spec> julia_steps;
  bool stopped = false;                          // the job stopped our workers because another machine failed
  std::vector<std::pair<size_t, int>> signalled; // take_signals's requests, in order

private:
  workers::Supervised run_until_signalled(const std::vector<workers::Spec>& specs,
                                          const workers::SuperviseOptions& options);
  FakeProcesses m_behaviour;
};

// Fails this rank at a chosen point: when `phase` starts, or once its
// installer has taken `installed_bytes` of the stream.
struct Fault {
  std::string phase;
  uint64_t installed_bytes = 0; // > 0: fail the install after this many bytes
  std::string message = "injected fault";
  int exit_code = 3;
  std::function<void()> action; // instead of throwing at `phase` (or at installed_bytes, once): do this
};

class FaultObserver : public JobObserver {
public:
  explicit FaultObserver(Fault f) : m_fault(std::move(f)) {}
  void phase(Phase p) override;
  void installed(uint64_t bytes) override;
  std::vector<std::string> phases; // seen, in order

private:
  Fault m_fault;
  std::atomic<bool> m_acted{false};
};

struct FakeMachine {
  std::string host;
  fs::path dest; // its store (machines may share one)
  int ranks = 1;
  std::vector<std::string> environment{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"};
  FakeProcesses processes;
  std::string julia_class; // its compile class (unset: the real one)
  int control_fd = -1;     // its first rank's JobContext::control_fd
  bool collector = false;  // a collecting rank (--collector), not a machine: distenv run's on its own machine
  Fault fault;             // on the machine's first rank
  // Damages the stream on its way to this machine: called with each data
  // chunk (its number from 0) and may change its bytes.
  std::function<void(int chunk, std::string& bytes)> damage;
};

// One rank's end of the job.
struct RankEnd {
  int machine = 0;
  int exit_code = -1;
  bool aborted = false; // it called Comm::abort (a failure the job could not agree on)
  std::string out, err;
  std::string progress; // what it wrote as progress lines (a log's)
  std::vector<workers::Spec> each_machine, workers, julia_steps;
  bool workers_stopped = false;
  std::vector<std::pair<size_t, int>> signalled; // its workers' signals (FakeRunner::signalled)
  std::vector<std::string> phases;
};

struct FakeJobResult {
  std::vector<RankEnd> ranks;
  bool hung = false; // the watchdog had to end it
  std::string abort_reason;
  const RankEnd& root() const { return ranks.front(); }
};

// Runs run_job on every rank of `machines` (ranks as threads; each machine's
// ranks are consecutive) with `options` (dest replaced by each machine's).
// A watchdog ends a job that has not finished after `timeout_seconds`.
// `entry` is what every rank runs: run_job, or run_status / run_gc.
using JobEntry = int (*)(const cli::Options&, JobContext&);
FakeJobResult run_fake_job(const std::vector<FakeMachine>& machines, const cli::Options& options,
                           double timeout_seconds = 20, JobEntry entry = run_job);

// The job's stop (util/interrupt.hpp) as a new process has it: not asked,
// SIGUSR2 back to its default (the tests run many jobs in one process).
void reset_stop();

} // namespace distenv::test
