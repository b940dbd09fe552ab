#pragma once

#include <boost/filesystem/path.hpp>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace distenv::workers {

// One process to run: argv[0] is looked up on the PATH of `env`.
struct Spec {
  std::vector<std::string> argv;
  std::vector<std::string> env; // KEY=VALUE, the whole environment
  boost::filesystem::path cwd;
  std::string label; // output prefix: "[label] line"
};

struct Exit {
  std::string label;
  int code = 0;      // exit code when it exited
  int signal = 0;    // signal when it was killed
  std::string error; // it could not be started (and why)
  int asked = 0;     // the last signal take_signals asked for it (a front end's rmprocs)
  // It ended by the signal it was asked to get (or exited 128 + it, as a
  // runtime that handles the signal does): the front end's doing, not a failure.
  bool ended_as_asked() const { return asked && (signal == asked || (!signal && code == 128 + asked)); }
  // 0 success (or ended as asked), the exit code, 128+signal, or 127 when it could not start.
  int status() const { return !error.empty() ? 127 : ended_as_asked() ? 0 : signal ? 128 + signal : code; }
  std::string describe() const; // "exited with 3", "killed by signal 9", ...
};

struct SuperviseOptions {
  double grace_seconds = 5.0; // SIGTERM, then SIGKILL after this long
  int out_fd = 1;
  int err_fd = 2;
  // Polled while the processes run (every 100 ms at most): true stops them
  // as a signal would (SIGTERM, SIGKILL after the grace period).
  std::function<bool()> should_stop;
  // Polled with should_stop: signals for single processes, (index in the
  // specs, signal), each sent to that process's group if it still runs.
  std::function<std::vector<std::pair<size_t, int>>()> take_signals;
  // The job's cgroup (workers/cgroup.hpp), or -1: each process moves
  // itself in before exec; the guard kills it if this process dies.
  int cgroup_procs_fd = -1;
  int cgroup_kill_fd = -1;
  std::string cgroup_dir; // removed by the guard once it is empty
};

struct Supervised {
  std::vector<Exit> exits; // in the order of the specs
  int interrupted_by = 0;  // SIGINT / SIGTERM / SIGHUP received, or 0
  bool by_parent = false;  // ... sent by this process's parent (mpirun or its daemon stopping the job)
  // "interrupted by signal 2 (Interrupt)", or "stopped by mpirun (SIGTERM)"
  // when the parent sent it (it passes on a Ctrl-C of mpirun or distenv as
  // SIGTERM: the launcher names the signal it got).
  std::string interruption() const;
  bool stopped = false; // should_stop() said so
};

// Starts every spec, each in its own process group. If this process dies,
// even by SIGKILL, the workers (PR_SET_PDEATHSIG) and what they started (a
// guard process kills their groups) go with it. Forwards their stdout/stderr line by line with
// the label prefix, and waits for all of them. SIGINT, SIGTERM or SIGHUP
// received meanwhile is passed on as SIGTERM to every process group, and
// SIGKILL follows after the grace period.
Supervised supervise(const std::vector<Spec>& specs, const SuperviseOptions& options = {});

// Where the job's processes come from: ProcessRunner starts real ones
// (supervise()); tests of the job's logic give it a fake.
class Runner {
public:
  virtual ~Runner() = default;
  virtual Supervised run(const std::vector<Spec>& specs, const SuperviseOptions& options) = 0;
};

class JobCgroup;

// Real processes. For its lifetime this process is a child subreaper: what
// the workers start and abandon (a daemon: fork, setsid, fork) comes to it
// rather than to init, and at its end every such process is killed and
// reaped (and counted on `err_fd`), so nothing a job started outlives it.
// Where it can, it also makes the job a cgroup of its own (JobCgroup) that
// every process it starts is in: what leaves the process groups is still
// found, even when this process is SIGKILLed. Children that were there
// before it (Open MPI's own) are left alone.
class ProcessRunner : public Runner {
public:
  explicit ProcessRunner(int err_fd = 2);
  ~ProcessRunner() override;
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;
  Supervised run(const std::vector<Spec>& specs, const SuperviseOptions& options) override;
  // The job's cgroup, or null (none could be made here).
  const JobCgroup* cgroup() const { return m_cgroup.get(); }

private:
  int m_err_fd;
  std::vector<int> m_before; // pids
  std::unique_ptr<JobCgroup> m_cgroup;
};

} // namespace distenv::workers
