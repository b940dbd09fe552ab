#pragma once

#include <distenv/cluster/plan.hpp>
#include <distenv/install/objects.hpp>
#include <distenv/install/store.hpp>
#include <distenv/job/session.hpp>

#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

namespace distenv::job {

struct Checked {
  std::vector<cluster::StoreState> states;       // every machine's store, by machine
  std::unique_ptr<install::Objects> here;        // a leader lacking it: the store's objects, held
  std::unordered_set<hash::Hash128> present;     // ... which of the plan's contents they hold
  std::shared_ptr<install::Store::InUse> in_use; // a leader that has it: marked in use from now on
  std::optional<hash::Hash128> base; // a leader lacking it: the project's previous version here, checked
  std::vector<char> units_lacking;   // a depot's plan: which of its units this leader's store lacks
};

// Phase check: every leader looks at its store for the plan's environment
// (installed? trusted? enough space? which contents are here?); the states
// are all-gathered with the agreement.
Checked check(Session& s, const cluster::JobPlan& plan);

// The same for a depot's plan (install/depot.cpp): which of its units
// (package trees, artifacts) each store lacks, and which of their contents
// it holds.
Checked check_depot(Session& s, const cluster::JobPlan& depot);

} // namespace distenv::job
