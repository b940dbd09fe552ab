#pragma once

#include <distenv/cli/options.hpp>
#include <distenv/cluster/handshake.hpp>
#include <distenv/job/session.hpp>
#include <distenv/report/job_report.hpp>

#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace distenv::job {

// What a job writes and brings back: its name, what it collects, and (on
// leaders, once activated) this machine's output directory, $DISTENV_OUTPUT.
struct Outputs {
  std::string job_id;               // every rank, after read
  std::vector<std::string> collect; // --collect, then distenv.toml's `collect`
  fs::path dir;                     // leaders: <dest>/outputs/<job id>/<host> (empty before activate)
  bool done = false;                // collect has run (it runs once: the collecting rank ends after it)
};

// The name rank 0 gives a job without --job-id: the start time (UTC) and
// the scheduler's job id (SLURM, PBS, Grid Engine, LSF) or `random` in hex:
// "20261207-231502-4211", "20261207-231502-9f3a". Sorts by start time.
std::string new_job_id(const std::vector<std::string>& environment, std::time_t now, unsigned random);

// After read: rank 0 names the job (--job-id, or new_job_id) and says what
// it collects (--collect, then `from_environment`: distenv.toml's); every
// rank learns both.
Outputs name_job(Session& s, const std::vector<std::string>& from_environment);

// Phase collect (after the workers, and after a phase that failed once the
// job was named): every leader packs the files of its output directory that
// match, then sends them, one machine at a time, to the collecting rank (on
// the launching machine) or, without one, to rank 0, which installs each
// machine's under <--collect-into>/<job id>/<host>/ (pack::ArchiveReader
// checks every entry, as for an environment; a machine's directory appears
// whole or not at all). Rank 0 prints a line per machine and the total and
// returns them; a machine whose files did not all come back is named with why
// (printed here when `job_failed`, else by the report).
std::optional<report::JobReport::Collected> collect(Session& s, Outputs& out, bool job_failed = false);

// The collecting rank's part of a job (--collector): takes what the
// machines send over `world` (cluster::enter made the machines' group
// apart), then tells rank 0 what it installed. Exit code 0: rank 0 reports.
int run_collector(const cli::Options& o, transport::Comm& world);

} // namespace distenv::job
