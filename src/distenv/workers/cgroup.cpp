// The job's own cgroup: what its workers start cannot leave it.
#include <distenv/workers/cgroup.hpp>

#include <distenv/util/files.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace distenv::workers {

namespace fs = boost::filesystem;

namespace {

std::string read_or_empty(const fs::path& path) {
  try {
    return read_file(path, 1 << 20);
  } catch (const std::exception&) {
    return {};
  }
}

bool populated(const fs::path& dir) {
  const std::string events = read_or_empty(dir / "cgroup.events");
  return events.find("populated 0") == std::string::npos;
}

} // namespace

fs::path own_cgroup() {
  std::string relative; // "0::/user.slice/..." (the v2 hierarchy)
  std::istringstream cgroups(read_or_empty("/proc/self/cgroup"));
  for (std::string line; std::getline(cgroups, line);)
    if (line.rfind("0::", 0) == 0)
      relative = line.substr(3);
  if (relative.empty() || relative.find("..") != std::string::npos)
    return {};
  std::istringstream mounts(read_or_empty("/proc/self/mountinfo"));
  for (std::string line; std::getline(mounts, line);) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0)
      continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, device, root, point;
    if (!(fields >> id >> parent >> device >> root >> point))
      continue;
    // The mount shows the hierarchy from `root` on (a cgroup namespace, a
    // container): the process's cgroup must be at or below it.
    if (root != "/" && relative != root && relative.rfind(root + "/", 0) != 0)
      continue;
    const std::string below = root == "/" ? relative : relative.substr(root.size());
    return fs::path(point) / below;
  }
  return {};
}

std::unique_ptr<JobCgroup> JobCgroup::make() {
  const fs::path own = own_cgroup();
  if (own.empty() || ::access((own / "cgroup.procs").c_str(), W_OK) != 0)
    return nullptr;
  static std::atomic<int> made{0};
  const fs::path path = own / fmt::format("distenv-{}-{}", ::getpid(), made++);
  if (::mkdir(path.c_str(), 0755) != 0)
    return nullptr;
  Fd procs(::open((path / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  Fd kill(::open((path / "cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC)); // the kernel's: 5.14 on
  if (!procs || !kill) {
    ::rmdir(path.c_str());
    return nullptr;
  }
  return std::unique_ptr<JobCgroup>(new JobCgroup(path, std::move(procs), std::move(kill)));
}

JobCgroup::JobCgroup(fs::path path, Fd procs, Fd kill)
    : m_path(std::move(path)), m_procs(std::move(procs)), m_kill(std::move(kill)) {}

JobCgroup::~JobCgroup() {
  if (!pids().empty())
    kill_all();
  m_procs.reset();
  m_kill.reset();
  ::rmdir(m_path.c_str()); // fails only when something is still dying: the kernel lets it go
}

std::vector<pid_t> JobCgroup::pids() const {
  std::vector<pid_t> out;
  std::istringstream in(read_or_empty(m_path / "cgroup.procs"));
  for (long pid; in >> pid;)
    out.push_back(static_cast<pid_t>(pid));
  return out;
}

bool JobCgroup::kill_all(double seconds) {
  (void)!::write(m_kill.get(), "1", 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (populated(m_path)) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

} // namespace distenv::workers
