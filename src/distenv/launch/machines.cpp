// The machines of a launch: read from the hostfile or --hosts, and probed.
#include <distenv/launch/machines.hpp>

#include <distenv/util/command.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/style.hpp>

#include <boost/filesystem/path.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace distenv::launch {

bool is_local(const std::string& m) {
  if (m == "localhost" || m.rfind("127.", 0) == 0)
    return true;
  const std::string h = host_name();
  return m == h || m == h.substr(0, h.find('.'));
}

std::vector<std::string> machines(const Command& c) {
  std::vector<std::string> out;
  auto add = [&](const std::string& m) {
    if (!m.empty() && std::find(out.begin(), out.end(), m) == out.end())
      out.push_back(m);
  };
  if (!c.hostfile.empty()) {
    std::ifstream in(c.hostfile.string());
    if (!in)
      throw InputError(fmt::format("{}: cannot read the hostfile", c.hostfile.string()));
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string name;
      if (words >> name && name[0] != '#')
        add(name);
    }
    if (out.empty())
      throw InputError(fmt::format("{}: no machines in it", c.hostfile.string()));
  } else {
    for (const std::string& h : c.hosts)
      add(h);
  }
  return out;
}

// Every machine answers through mpirun's own agent, all at once; the ones
// that do not are named. Returns those that answered.
std::vector<std::string> probe(const std::vector<std::string>& machines, const Command& c) {
  std::string agent = std::getenv("OMPI_MCA_plm_rsh_agent") ? std::getenv("OMPI_MCA_plm_rsh_agent") : "ssh";
  agent = agent.substr(0, agent.find(':'));
  std::vector<std::string> agent_cmd;
  std::istringstream words(agent);
  for (std::string w; words >> w;)
    agent_cmd.push_back(w);
  if (agent_cmd.empty())
    agent_cmd.push_back("ssh");
  if (fs::path(agent_cmd[0]).filename() == "ssh")
    agent_cmd.insert(agent_cmd.end(),
                     {"-o", "BatchMode=yes", "-o", fmt::format("ConnectTimeout={:g}", c.probe_timeout)});
  struct Probe {
    std::string machine;
    CommandResult result;
  };
  std::vector<Probe> probes(machines.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < machines.size(); ++i) {
    probes[i].machine = machines[i];
    if (is_local(machines[i])) {
      probes[i].result.started = true;
      probes[i].result.status = 0;
      continue;
    }
    threads.emplace_back([&, i] {
      std::vector<std::string> argv = agent_cmd;
      argv.insert(argv.end(), {machines[i], "true"});
      CommandOptions o;
      o.timeout_seconds = c.probe_timeout;
      probes[i].result = run_command(argv, o);
    });
  }
  for (std::thread& t : threads)
    t.join();
  std::vector<std::string> reachable;
  bool failed = false;
  for (const Probe& p : probes) {
    if (p.result.started && p.result.status == 0) {
      reachable.push_back(p.machine);
      continue;
    }
    std::string err = p.result.err;
    while (!err.empty() && err.back() == '\n')
      err.pop_back();
    const std::string why =
        p.result.timed_out ? fmt::format("no answer within {:g} s", c.probe_timeout)
                           : fmt::format("{} (exit {})", err.substr(err.rfind('\n') + 1), p.result.status);
    if (c.skip_unreachable) {
      if (!c.quiet())
        std::fprintf(stderr, "%s%s: unreachable through %s: %s; skipped\n", warning_prefix().c_str(),
                     p.machine.c_str(), agent_cmd[0].c_str(), why.c_str());
    } else {
      std::fprintf(stderr, "%s%s: unreachable through %s: %s (use --skip-unreachable to run without it)\n",
                   error_prefix().c_str(), p.machine.c_str(), agent_cmd[0].c_str(), why.c_str());
      failed = true;
    }
  }
  if (failed)
    throw Error(fmt::format("{} of {} machines unreachable; nothing was started",
                            machines.size() - reachable.size(), machines.size()));
  if (reachable.empty())
    throw Error("no machine answered");
  return reachable;
}

} // namespace distenv::launch
