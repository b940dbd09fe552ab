#pragma once

// The pieces of the collect phase (job/collect.hpp): what one machine packs,
// and how the collecting side takes it in, over any Comm.

#include <distenv/report/job_report.hpp>
#include <distenv/transport/comm.hpp>

#include <boost/filesystem/path.hpp>

#include <string>
#include <utility>
#include <vector>

namespace distenv::job {

namespace fs = boost::filesystem;

using CollectedMachine = report::JobReport::Collected::Machine;

// One machine's outputs, packed (tar+zstd) into `file` beside its output
// directory, ready to send; `info` counts them (or says why not).
struct PackedOutputs {
  fs::path file; // empty: nothing to send
  CollectedMachine info;
  PackedOutputs() = default;
  PackedOutputs(PackedOutputs&&) = default;
  PackedOutputs& operator=(PackedOutputs&&) = default;
  ~PackedOutputs(); // removes `file`
};

// Packs the regular files below `dir` that match one of `globs`
// (collect_match); symlinks and other entries that match are counted as
// skipped, never followed. A failure is in info.error, not thrown.
PackedOutputs pack_outputs(const fs::path& dir, const std::vector<std::string>& globs,
                           const std::string& host);

// A sender's side: waits for the collecting rank `to` to ask, then sends
// `packed` (its counts, then its chunks).
void send_outputs(transport::Comm& comm, int to, const PackedOutputs& packed);

// The collecting side: asks the senders (rank, host), a few at once, and
// installs what each sends under <into>/<job id>/<host>, each on a thread of
// its own; `own` is this rank's own machine's (it is one of the senders) or
// null. Every sender is heard to the end, whatever fails here: a failure is
// that machine's error.
report::JobReport::Collected receive_outputs(transport::Comm& comm,
                                             const std::vector<std::pair<int, std::string>>& senders,
                                             const fs::path& into, const std::string& job_id,
                                             const PackedOutputs* own);

inline constexpr int k_tag_results_start = 0x6430; // rank 0 -> collector: the job and its senders
inline constexpr int k_tag_results_go = 0x6431;    // collector -> a sender: your turn
inline constexpr int k_tag_results_data =
    0x6433; // sender -> collector: its head, then chunks; empty: the end
inline constexpr int k_tag_results_summary = 0x6434; // collector -> rank 0: what it installed

} // namespace distenv::job
