#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace distenv::workers {

// A process that outlives a SIGKILLed rank just long enough to kill its
// workers (PR_SET_PDEATHSIG reaches only the workers themselves, not what
// they started): the job's cgroup as a whole when there is one
// (`cgroup_kill_fd`, cgroup.kill: daemons that left their groups too), and
// the workers' process groups. It reads process-group ids from a pipe; at
// end of file (the rank is gone) it kills; told disarm() first (the rank
// ended its workers itself and is about to reap them), it kills nothing.
// It is named distenv-guard (ps, pgrep -f) and lives in a session of its
// own, so a launcher that kills the rank's group does not take it along.
class Guard {
public:
  explicit Guard(int cgroup_kill_fd = -1, const std::string& cgroup_dir = "");
  ~Guard(); // disarms
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  void watch(pid_t group);
  // Nothing to kill any more: the guard ends without a signal (waited for).
  void disarm();

private:
  pid_t m_pid = -1;
  int m_fd = -1;
};

// The children of process `pid` (from /proc/*/stat).
std::vector<pid_t> children_of(pid_t pid);

// Every child of this process that was not there `before` is a stray:
// killed and reaped, until none is left. Returns how many there were.
size_t reap_strays(const std::vector<pid_t>& before);

} // namespace distenv::workers
