#pragma once

#include <distenv/launch/launcher.hpp>

#include <string>
#include <vector>

namespace distenv::launch {

// The machines, in order, each once: from the hostfile (first word of each
// line; comments and blank lines skipped) or --hosts.
std::vector<std::string> machines(const Command& c);

// This machine, by one of its names ("localhost", 127.x, its host name).
bool is_local(const std::string& machine);

// Every machine answers through mpirun's own agent (OMPI_MCA_plm_rsh_agent,
// else ssh), all at once, within --probe-timeout; those that do not are
// named on stderr (errors, or warnings with --skip-unreachable). Returns
// those that answered; throws Error when one did not (without
// --skip-unreachable) or none did.
std::vector<std::string> probe(const std::vector<std::string>& machines, const Command& c);

} // namespace distenv::launch
