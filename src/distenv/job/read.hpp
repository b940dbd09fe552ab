#pragma once

#include <distenv/cluster/plan.hpp>
#include <distenv/job/session.hpp>
#include <distenv/pipeline.hpp>

#include <cstdint>
#include <optional>

namespace distenv::job {

struct Read {
  std::optional<Prepared> prepared; // rank 0: the environment, its layout and tree
  cluster::JobPlan plan;            // every rank: what rank 0 broadcast
  // every rank: the depot's plan, when the environment brings one
  // (PreparedDepot: registered packages and artifacts)
  std::optional<cluster::JobPlan> depot;
  uint64_t plan_bytes = 0; // its size on the wire
};

// Phase read: rank 0 checks --report can be written, reads, lays out and
// hashes the environment (warnings on ctx.err); the outcome is agreed, then
// the plan (and the depot's) is broadcast to every rank.
Read read(Session& s);

} // namespace distenv::job
