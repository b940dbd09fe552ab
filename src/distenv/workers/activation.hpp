#pragma once

#include <distenv/layout/metadata.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/path.hpp>

#include <optional>
#include <string>
#include <vector>

namespace distenv::workers {

namespace fs = boost::filesystem;

// Where one worker stands in the job (0-based ids).
struct WorkerPlace {
  int machine = 0, machines = 1;
  int worker = 0, workers = 1;             // global
  int local_worker = 0, local_workers = 1; // on this machine
};

// {root} -> the install root, {project} -> the installed project directory.
std::string expand(const std::string& value, const fs::path& root, const fs::path& project);

// The environment a worker (place given) or a once-per-machine command
// (no place) runs with: `inherited` minus the MPI launcher's own variables
// (OMPI_*, PMIX_*, ...), then the environment's variables, then DISTENV_*.
std::vector<std::string> activation_environment(const std::vector<std::string>& inherited,
                                                const layout::Metadata& meta, const fs::path& root,
                                                int machine, int machines,
                                                const std::optional<WorkerPlace>& place);

// This process's environment as KEY=VALUE strings.
std::vector<std::string> current_environment();

// The value of KEY in a KEY=VALUE list ("" when absent).
std::string env_value(const std::vector<std::string>& env, const std::string& key);

} // namespace distenv::workers
