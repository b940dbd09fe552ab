#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace distenv::report {

// What one machine did, sent to rank 0 at the end.
struct MachineResult {
  std::string host;
  int machine = 0;
  int ranks = 1;
  std::string install_dir;
  std::string project_dir;
  std::string install; // "received", "reused" or "shared" (another machine installed into the same store)
  uint64_t bytes_received = 0;
  double install_seconds = 0;
  uint64_t peak_rss_kib = 0; // of the machine's leader rank
  struct Worker {
    int id = 0;     // global
    int status = 0; // 0 ok, exit code, 128+signal, 127 could not start
    std::string how; // "exited with 3", ...
  };
  std::vector<Worker> workers;

  std::string encode() const;
  static MachineResult decode(const std::string& text);
};

struct JobReport {
  std::string tree_hash;
  int machines = 0;
  int ranks = 0;
  uint64_t archive_bytes = 0;  // size of the packed stream (0 when nothing was sent)
  std::string algorithm;       // "chain", "binary tree", "" when nothing was sent
  int receivers = 0;
  double wall_seconds = 0;
  double transfer_seconds = 0;
  std::vector<MachineResult> results; // by machine
  std::vector<std::string> command;   // empty: install only

  nlohmann::ordered_json json() const;
  std::string summary() const;
  // Workers that did not succeed, as "host: worker 5 exited with 3".
  std::vector<std::string> failures() const;
  int exit_code() const; // 0, or the first failed worker's status
};

} // namespace distenv::report
