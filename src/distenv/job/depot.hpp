#pragma once

#include <distenv/job/read.hpp>
#include <distenv/job/session.hpp>
#include <distenv/job/transfer.hpp>

namespace distenv::job {

// Phase depot: the depot's check and transfer (a second transfer: the
// registered packages and artifacts each store lacks), when the plan has
// one; nothing otherwise.
Transferred transfer_depot(Session& s, const Read& r);

} // namespace distenv::job
