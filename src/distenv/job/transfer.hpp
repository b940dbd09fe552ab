#pragma once

#include <distenv/cluster/plan.hpp>
#include <distenv/job/check.hpp>
#include <distenv/job/session.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/report/job_report.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace distenv::job {

struct Transferred {
  report::Install install = report::Install::reused; // how it came to be on this machine
  uint64_t bytes_received = 0;
  uint64_t local_files = 0, local_bytes = 0; // from objects already here
  uint64_t kept_files = 0, kept_bytes = 0;   // the previous version's, kept in place
  std::string repaired;                      // it was installed, but this had changed
  std::string stream_waits;                  // -v: which stage of the stream waited for which
  double install_seconds = 0;
  uint64_t archive_bytes = 0; // rank 0: the stream's size
  uint64_t chunk_bytes = 0;
  double seconds = 0;
  std::string algorithm; // "" when nothing was sent
  int receivers = 0;
  uint64_t units_sent = 0;                       // a depot's: units some machine lacked
  std::shared_ptr<install::Store::InUse> in_use; // a machine that installed it: in use from the install on
};

// Phase transfer: the machines that lack `plan`'s environment (one per
// shared store, from `checked.states`) join rank 0 in a group; they combine
// which contents they lack (the per-file delta); rank 0 packs `tree` (rank
// 0 only; the others pass nullptr) into the pipelined broadcast and each
// receiver installs while the stream passes through. Nothing is sent when
// nobody lacks it. The outcome is agreed; a rank that fails still takes its
// part of the stream, so nobody waits for it.
// `phase`: the phase it is part of (the depot's transfer is Phase::depot).
Transferred transfer(Session& s, const cluster::JobPlan& plan, const layout::Tree* tree, Checked& checked,
                     Phase phase = Phase::transfer);

} // namespace distenv::job
