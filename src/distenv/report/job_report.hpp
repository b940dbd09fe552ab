#pragma once

#include <nlohmann/json.hpp>

#include <optional>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace distenv::report {

// How the environment came to be on a machine.
enum class Install {
  received, // the stream came to this machine and it installed it
  reused,   // it was already in the machine's store: nothing sent
  shared,   // another machine installed it into the same (shared) store
};
const char* to_string(Install install);
NLOHMANN_JSON_SERIALIZE_ENUM(Install, {{Install::received, "received"},
                                       {Install::reused, "reused"},
                                       {Install::shared, "shared"}})

// What one machine did, sent to rank 0 at the end.
struct MachineResult {
  std::string host;
  int machine = 0;
  int ranks = 1;
  std::string install_dir;
  std::string project_dir;
  Install install = Install::reused;
  uint64_t bytes_received = 0;
  uint64_t local_files = 0, local_bytes = 0; // from objects already on the machine
  uint64_t kept_files = 0, kept_bytes = 0;   // the previous version's, kept in place
  std::string repaired;                      // installed before, but this had changed
  std::string stream_waits;                  // -v: which stage of the stream waited for which
  double install_seconds = 0;
  uint64_t peak_rss_kib = 0; // of the machine's leader rank
  // The leader rank's time in each phase up to its workers ("machines",
  // "read", "check", "transfer", "depot", "activate", "compile", "each_machine"): where each
  // machine's time went (-v, and the JSON report).
  std::vector<std::pair<std::string, double>> phase_seconds;
  struct Worker {
    int id = 0;      // global
    int status = 0;  // 0 ok, exit code, 128+signal, 127 could not start
    std::string how; // "exited with 3", ...
  };
  std::vector<Worker> workers;
  // What the job wrote into the environment, moved to $DISTENV_OUTPUT/written
  // (install::Store::sweep_added): entries, their bytes, the first few.
  uint64_t written_entries = 0, written_bytes = 0;
  std::string written_first; // "results.csv, plots/"
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MachineResult::Worker, id, status, how)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MachineResult, host, machine, ranks, install_dir, project_dir, install,
                                   bytes_received, local_files, local_bytes, kept_files, kept_bytes, repaired,
                                   stream_waits, install_seconds, peak_rss_kib, phase_seconds, workers,
                                   written_entries, written_bytes, written_first)

struct JobReport {
  std::string tree_hash;
  int machines = 0;
  int ranks = 0;
  uint64_t archive_bytes = 0; // size of the packed stream (0 when nothing was sent)
  uint64_t plan_bytes = 0;    // size of the plan broadcast to every rank
  std::string algorithm;      // "chain", "binary tree", "two-tree", "mpi"; "" when nothing was sent
  uint64_t chunk_bytes = 0;   // the stream's chunk size (0 when nothing was sent)
  int receivers = 0;
  uint64_t hashed_files = 0; // rank 0 read these to hash them ...
  uint64_t cached_files = 0; // ... and knew these from its hash cache
  double wall_seconds = 0;
  double transfer_seconds = 0;
  // Rank 0's time in each phase, in order ("machines", "read", "check", ...):
  // where a run's time went.
  std::vector<std::pair<std::string, double>> phase_seconds;
  // The job shipped a depot (registered packages and artifacts).
  struct Depot {
    std::string dir;    // <dest>/depot on every machine
    uint64_t units = 0; // package trees and artifacts it holds for this environment
    uint64_t files = 0, bytes = 0;
    uint64_t units_sent = 0;    // of those: sent (some machine lacked them)
    uint64_t archive_bytes = 0; // the depot stream's size
    int receivers = 0;
    double seconds = 0;
    bool runtime = false; // one of the units is the Julia runtime (--runtime ship)
  };
  std::optional<Depot> depot;
  // --precompile: each compile class's caches, made on one machine of it.
  struct Compiled {
    std::string name;     // the class (env/julia_class.hpp)
    std::string compiler; // the host that compiled
    int machines = 0;     // of the class
    double compile_seconds = 0;
    uint64_t files = 0, bytes = 0; // cache files sent
    uint64_t archive_bytes = 0;
    int receivers = 0; // machines that lacked some
  };
  std::vector<Compiled> compiled;
  // One line per class: who compiled, what went to whom.
  std::string compiled_summary() const;
  std::vector<MachineResult> results; // by machine
  std::vector<std::string> command;   // empty: install only
  // --collect: what came back from each machine's output directory.
  struct Collected {
    std::string job_id;
    std::string host; // where it landed (the collecting rank's machine)
    std::string dir;  // <--collect-into>/<job id> there
    struct Machine {
      std::string host;
      uint64_t files = 0, bytes = 0, archive_bytes = 0;
      uint64_t skipped = 0; // matching entries that are not regular files (symlinks, ...)
      std::string error;    // why nothing (or not all) came back from it
    };
    std::vector<Machine> machines;
    // A line per machine and the total ("distenv: collected ...").
    std::string summary() const;
    std::vector<std::string> failures() const; // "node2: collect: ..."
  };
  std::optional<Collected> collected;

  nlohmann::ordered_json json() const;
  // What rank 0 prints when the environment is in place on every machine
  // (before once-per-machine steps and workers): where it went, received,
  // reused or shared, one line per machine.
  std::string install_summary() const;
  // What it prints at the end: workers per machine, the total, wall time.
  // `verbose`: each machine's time per phase too.
  std::string workers_summary(bool verbose = false) const;
  std::string summary() const { return install_summary() + workers_summary(); }
  // Workers that did not succeed, as "host: worker 5 exited with 3".
  std::vector<std::string> failures() const;
  int exit_code() const; // 0, or the first failed worker's status (1: a machine's outputs did not come back)
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(JobReport::Collected::Machine, host, files, bytes, archive_bytes, skipped,
                                   error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(JobReport::Collected, job_id, host, dir, machines)

} // namespace distenv::report
