#pragma once

#include <distenv/install/slot.hpp>
#include <distenv/job/read.hpp>
#include <distenv/job/session.hpp>
#include <distenv/job/transfer.hpp>
#include <distenv/layout/metadata.hpp>
#include <distenv/report/job_report.hpp>
#include <distenv/workers/activation.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace distenv::job {

// The environment in place on this machine, ready to run in.
struct Installed {
  fs::path root; // leaders: the project's stable place, <dest>/projects/<name> (-> ../envs/<tree hash>)
  layout::Metadata meta;                         // its .distenv/environment.json (leaders)
  std::shared_ptr<install::Store::InUse> in_use; // gc leaves it alone while the job runs
  std::shared_ptr<install::ProjectSlot> slot;    // the place this job holds
  report::MachineResult mine;                    // this machine's part of the report so far
  // The job ships a depot or compiles: JULIA_DEPOT_PATH for what runs
  // here (the writable depot of this machine's compile class, then the
  // shipped depot, or the depots the job inherited).
  std::string julia_depot_path;
  std::string julia;       // the Julia it runs (the runtime on the activated PATH)
  std::string julia_class; // this machine's compile class (env/julia_class.hpp)
  bool offline = false;    // workers get JULIA_PKG_OFFLINE=true
  std::string runtime_bin; // --runtime ship: the shipped runtime's bin, first on PATH
  hash::Hash128 tree;      // the environment's
  std::string job_id;      // DISTENV_JOB
  fs::path output;         // leaders: this machine's output directory (DISTENV_OUTPUT, job/collect.hpp)
  std::shared_ptr<Fd> output_held; // gc leaves it while the job runs

  fs::path project_dir() const { return root / meta.project; }
  // What a process started here gets: the inherited environment activated,
  // with `place` for a worker.
  std::vector<std::string> activation(const Session& s,
                                      const std::optional<workers::WorkerPlace>& place) const;
};

// The job as rank 0 reports it so far: the plan, the transfer and the
// phases' times; each machine's results are added to it.
report::JobReport job_report(const Session& s, const Read& r, const Transferred& t, const Transferred& depot,
                             const std::vector<std::string>& command,
                             const std::vector<report::JobReport::Compiled>& compiled = {});

// Phase activate: every leader checks what it installed (the metadata, the
// runtime on the activated PATH) and marks it in use; the results are
// gathered and rank 0 prints where the environment is on every machine (now:
// a sweep may run for hours after).
// Leaders also make the job's output directory, <dest>/outputs/<job id>/<host>.
Installed activate(Session& s, const Read& r, Transferred& t, const Transferred& depot,
                   const std::string& job_id);

} // namespace distenv::job
