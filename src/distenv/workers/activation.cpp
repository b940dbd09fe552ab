// The activated environment of workers and once-per-machine commands.
#include <distenv/workers/activation.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <unistd.h>

extern char** environ;

namespace distenv::workers {

namespace {

// Variables that belong to the rank's own launch: a worker that inherits
// them would believe it is part of this MPI job.
bool launcher_variable(const std::string& kv) {
  for (const char* prefix : {"OMPI_", "PMIX_", "OPAL_", "ORTE_", "PRTE_", "HYDRA_", "PMI_"})
    if (kv.rfind(prefix, 0) == 0)
      return true;
  return false;
}

void set(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  const std::string prefix = key + "=";
  auto it =
      std::find_if(env.begin(), env.end(), [&](const std::string& kv) { return kv.rfind(prefix, 0) == 0; });
  if (it != env.end())
    *it = prefix + value;
  else
    env.push_back(prefix + value);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

} // namespace

std::string expand(const std::string& value, const fs::path& root, const fs::path& project) {
  std::string out = value;
  replace_all(out, "{root}", root.string());
  replace_all(out, "{project}", project.string());
  return out;
}

std::vector<std::string> activation_environment(const std::vector<std::string>& inherited,
                                                const layout::Metadata& meta, const fs::path& root,
                                                int machine, int machines,
                                                const std::optional<WorkerPlace>& place) {
  std::vector<std::string> env;
  for (const std::string& kv : inherited)
    if (!launcher_variable(kv))
      env.push_back(kv);
  const fs::path project = root / meta.project;
  for (const auto& [key, value] : meta.env)
    set(env, key, expand(value, root, project));
  set(env, "DISTENV_ROOT", root.string());
  set(env, "DISTENV_PROJECT", project.string());
  set(env, "DISTENV_MACHINE", std::to_string(machine));
  set(env, "DISTENV_MACHINES", std::to_string(machines));
  if (place) {
    set(env, "DISTENV_WORKER", std::to_string(place->worker));
    set(env, "DISTENV_WORKERS", std::to_string(place->workers));
    set(env, "DISTENV_LOCAL_WORKER", std::to_string(place->local_worker));
    set(env, "DISTENV_LOCAL_WORKERS", std::to_string(place->local_workers));
  }
  return env;
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    env.emplace_back(*e);
  return env;
}

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  const std::string prefix = key + "=";
  for (const std::string& kv : env)
    if (kv.rfind(prefix, 0) == 0)
      return kv.substr(prefix.size());
  return {};
}

} // namespace distenv::workers
