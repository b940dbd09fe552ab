#pragma once

#include <string>
#include <vector>

namespace distenv::launch {

// Runs mpirun (`argv`) in a process group of its own and waits for it: a
// signal to the launcher (Ctrl-C, `kill`, `timeout`) reaches mpirun once,
// through the launcher, which then says which signal ended the job and
// returns 128 + it (mpirun itself says 1, and its ranks see the SIGTERM it
// sends); else mpirun's own status.
int run_mpirun(const std::vector<std::string>& argv);

} // namespace distenv::launch
