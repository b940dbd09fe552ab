// The mpirun line `distenv run | status | gc` executes, and the bootstrap's
// alone for the modes without MPI.
#include <distenv/launch/launcher.hpp>

#include <distenv/launch/machines.hpp>
#include <distenv/util/files.hpp>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

namespace distenv::launch {

std::vector<std::string> command_line(const Command& c, const std::vector<std::string>& ms,
                                      const std::string& bootstrap, const std::vector<std::string>& env,
                                      bool as_root, bool collects) {
  std::vector<std::string> cmd;
  if (!launches(c.mode)) {
    cmd = {bootstrap};
    if (c.mode == Subcommand::plan || c.mode == Subcommand::path)
      cmd.push_back("--plan");
    cmd.insert(cmd.end(), c.bootstrap_args.begin(), c.bootstrap_args.end());
    return cmd;
  }
  cmd.push_back(c.mpirun);
  if (as_root)
    cmd.push_back("--allow-run-as-root");
  if (!ms.empty()) {
    std::vector<std::string> ordered;
    for (const std::string& m : ms)
      if (is_local(m))
        ordered.push_back(m);
    for (const std::string& m : ms)
      if (!is_local(m))
        ordered.push_back(m);
    std::string list;
    for (const std::string& m : ordered)
      list += (list.empty() ? "" : ",") + m;
    cmd.insert(cmd.end(), {"--host", list, "-np", std::to_string(ordered.size())});
  }
  cmd.insert(cmd.end(), {"--map-by", "ppr:1:node", "--bind-to", "none"});
  // mpirun runs in a process group of its own (launcher.cpp): it must not
  // read a terminal. Workers never read stdin; rank 0 does with --control-stdin.
  if (std::find(c.bootstrap_args.begin(), c.bootstrap_args.end(), "--control-stdin") ==
      c.bootstrap_args.end())
    cmd.insert(cmd.end(), {"--stdin", "none"});
  for (size_t i = 0; i + 1 < c.mca.size(); i += 2)
    cmd.insert(cmd.end(), {"--mca", c.mca[i], c.mca[i + 1]});
  // What belongs to distenv and to Julia; never DISTENV_PROJECT, DISTENV_ROOT,
  // ...: distenv sets those for its workers.
  std::vector<std::string> forward = c.forward;
  static const std::regex k_forwarded(R"((DISTENV_DEST|DISTENV_BOOTSTRAP|JULIA_[A-Z0-9_]+))");
  std::vector<std::string> names;
  for (const std::string& kv : env)
    if (const std::string name = kv.substr(0, kv.find('=')); std::regex_match(name, k_forwarded))
      names.push_back(name);
  std::sort(names.begin(), names.end());
  forward.insert(forward.end(), names.begin(), names.end());
  for (const std::string& v : forward)
    cmd.insert(cmd.end(), {"-x", v});
  cmd.push_back(bootstrap);
  if (c.mode == Subcommand::status)
    cmd.push_back("--status");
  if (c.mode == Subcommand::gc)
    cmd.insert(cmd.end(), {"--gc", std::to_string(c.keep)});
  cmd.insert(cmd.end(), c.bootstrap_args.begin(), c.bootstrap_args.end());
  if (!c.command.empty()) {
    cmd.push_back("--");
    cmd.insert(cmd.end(), c.command.begin(), c.command.end());
  }
  // Rank 0 is this machine when it is one of the job's (listed first
  // above): it collects. Else a rank of its own here does, and the results
  // come back here. (Inside an allocation, no list: rank 0 is the batch host.)
  if (collects && c.mode == Subcommand::run && !ms.empty() &&
      std::none_of(ms.begin(), ms.end(), [](const std::string& m) { return is_local(m); })) {
    cmd.insert(cmd.end(), {":", "-np", "1", "--host", host_name(), bootstrap, "--collector"});
    cmd.insert(cmd.end(), c.bootstrap_args.begin(), c.bootstrap_args.end());
  }
  return cmd;
}

} // namespace distenv::launch
