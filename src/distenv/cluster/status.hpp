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
  double load1 = 0;         // 1-minute load average
  uint64_t mem_available = 0;
  uint64_t dest_free = 0;   // at --dest (or its nearest existing parent)
  std::string runtime;      // name
  std::string runtime_version; // first line of `runtime --version`, or "missing"
  std::string runtime_hint;
  struct Installed {
    std::string hash;
    std::string project; // install-relative project directory
    std::string runtime; // what its workers need ("" for none)
    uint64_t bytes = 0;  // its files
    int64_t used = 0;    // last use (the directory's mtime, seconds since the epoch)
  };
  std::vector<Installed> environments; // installed at --dest, most recently used first
  // Without a project to read: the version of each runtime the installed
  // environments need, "name: version" ("missing" when it is not on PATH).
  std::vector<std::string> installed_runtimes;

  std::string encode() const;
  nlohmann::ordered_json json() const; // for --report
  static MachineStatus decode(const std::string& text);
};

// Reads this machine's status. `runtime` may be empty (no runtime column).
MachineStatus collect_status(const boost::filesystem::path& dest, const std::string& runtime,
                             const std::string& runtime_hint);

// The table rank 0 prints, one row per machine.
std::string status_table(const std::vector<MachineStatus>& rows);

} // namespace distenv::cluster
