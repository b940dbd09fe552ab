#pragma once

#include <distenv/cluster/plan.hpp>
#include <distenv/install/local_contents.hpp>
#include <distenv/install/store.hpp>
#include <distenv/job/session.hpp>

#include <memory>
#include <vector>

namespace distenv::job {

struct Checked {
  std::vector<cluster::StoreState> states;       // every machine's store, by machine
  std::unique_ptr<install::LocalContents> here;  // a leader lacking it: the plan's contents already here
  std::shared_ptr<install::Store::InUse> in_use; // a leader that has it: marked in use from now on
};

// Phase check: every leader looks at its store for the plan's environment
// (installed? trusted? enough space? which contents are here?); the states
// are all-gathered with the agreement.
Checked check(Session& s, const cluster::JobPlan& plan);

} // namespace distenv::job
