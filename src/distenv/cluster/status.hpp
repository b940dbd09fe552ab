#pragma once

#include <boost/filesystem/path.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace distenv::cluster {

// One machine's row of `--status` (the seed's cluster_status).
struct MachineStatus {
  std::string host;
  int ranks = 1;
  long threads = 0;
  double load1 = 0; // 1-minute load average
  uint64_t mem_available = 0;
  uint64_t dest_free = 0;      // at --dest (or its nearest existing parent)
  std::string runtime;         // name
  std::string runtime_version; // first line of `runtime --version`, or "missing"
  std::string runtime_hint;
  struct Installed {
    std::string hash;
    std::string project;      // install-relative project directory
    std::string runtime;      // what its workers need ("" for none)
    uint64_t bytes = 0;       // its files
    int64_t last_used_ns = 0; // when a job last used it (install::last_used_ns)
    int64_t last_used = 0;    // the same in seconds since the epoch (the JSON report's)
  };
  std::vector<Installed> environments; // installed at --dest, most recently used first
  uint64_t interrupted = 0;            // installs interrupted (or running now): .incoming-* left
  uint64_t interrupted_bytes = 0;
  uint64_t output_jobs = 0; // jobs with output directories here (<dest>/outputs/<job>)
  uint64_t output_bytes = 0;
  // Without a project to read: the version of each runtime the installed
  // environments need, "name: version" ("missing" when it is not on PATH).
  std::vector<std::string> installed_runtimes;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MachineStatus::Installed, hash, project, runtime, bytes, last_used_ns,
                                   last_used)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MachineStatus, host, ranks, threads, load1, mem_available, dest_free,
                                   runtime, runtime_version, runtime_hint, environments, interrupted,
                                   interrupted_bytes, output_jobs, output_bytes, installed_runtimes)

// Reads this machine's status. `runtime` may be empty (no runtime column);
// runtimes are looked for on `path_value` (a PATH).
MachineStatus collect_status(const boost::filesystem::path& dest, const std::string& runtime,
                             const std::string& runtime_hint, const std::string& path_value);

// The table rank 0 prints, one row per machine.
std::string status_table(const std::vector<MachineStatus>& rows);

} // namespace distenv::cluster
