#pragma once

#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

#include <memory>
#include <sys/types.h>
#include <vector>

namespace distenv::workers {

// A cgroup (v2) of the job's own for the processes it starts, as systemd
// contains a service: a process cannot leave a cgroup by itself, whatever
// session or process group it makes, so a daemon a worker started (fork,
// setsid, fork) is found and killed with the rest (cgroup.kill), even when
// the rank is SIGKILLed (the guard writes cgroup.kill). Made below this
// process's own cgroup when that is writable by it (root, or a subtree
// delegated to the user, as systemd and SLURM can do); where it is not, or
// the kernel has no cgroup.kill (before 5.14), there is none and the
// process groups, the subreaper and the guard do what they can.
class JobCgroup {
public:
  // Null when this process cannot make one here.
  static std::unique_ptr<JobCgroup> make();
  // Kills what is left in it and removes it.
  ~JobCgroup();
  JobCgroup(const JobCgroup&) = delete;
  JobCgroup& operator=(const JobCgroup&) = delete;

  const boost::filesystem::path& path() const { return m_path; }
  // A child writes "0" here, between fork and exec, to move itself in.
  int procs_fd() const { return m_procs.get(); }
  // "1" written here kills everything in it (the guard holds one too).
  int kill_fd() const { return m_kill.get(); }
  // The processes in it now.
  std::vector<pid_t> pids() const;
  // SIGKILL to everything in it; waits (at most `seconds`) until it is
  // empty. True when it is.
  bool kill_all(double seconds = 10);

private:
  JobCgroup(boost::filesystem::path path, Fd procs, Fd kill);
  boost::filesystem::path m_path;
  Fd m_procs, m_kill;
};

// The cgroup v2 directory this process is in ("" when there is no cgroup2
// mount that holds it): from /proc/self/cgroup and /proc/self/mountinfo.
boost::filesystem::path own_cgroup();

} // namespace distenv::workers
