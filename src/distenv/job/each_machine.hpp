#pragma once

#include <distenv/job/activate.hpp>
#include <distenv/job/session.hpp>

namespace distenv::job {

// Phase each-machine: distenv.toml's `each_machine`,
// then the --each-machine commands, in order, once per machine, in the
// activated environment. The first failure stops them, and stops the other
// machines' steps too (a stoppable phase).
void each_machine(Session& s, const Installed& in);

// How the job's processes are stopped: after --grace, and as soon as
// another machine has failed (`notices`).
workers::SuperviseOptions supervise_options(const Session& s, cluster::StopNotices& notices);

} // namespace distenv::job
