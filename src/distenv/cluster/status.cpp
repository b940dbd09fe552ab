// `--status`: what each machine of the job has and can do.
#include <distenv/cluster/status.hpp>

#include <distenv/install/store.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/layout/metadata.hpp>
#include <distenv/util/command.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/space.hpp>
#include <distenv/util/units.hpp>

#include <algorithm>
#include <boost/filesystem/operations.hpp>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace distenv::cluster {

namespace {

namespace fs = boost::filesystem;

uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:")
      return kib * 1024;
  return 0;
}

double load1() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

// First line `runtime --version` prints, within 10 s, or "".
std::string version_of(const std::string& runtime) {
  CommandOptions o;
  o.timeout_seconds = 10;
  CommandResult r = run_command({runtime, "--version"}, o);
  if (!r.started || r.timed_out || r.status != 0)
    return {};
  std::string out = r.out.empty() ? r.err : r.out;
  out = out.substr(0, out.find('\n'));
  while (!out.empty() && out.back() == '\r')
    out.pop_back();
  return out;
}

} // namespace

MachineStatus collect_status(const fs::path& dest, const std::string& runtime,
                             const std::string& runtime_hint, const std::string& path_value) {
  MachineStatus s;
  s.host = machine_name();
  s.threads = ::sysconf(_SC_NPROCESSORS_ONLN);
  s.load1 = load1();
  s.mem_available = mem_available();
  s.dest_free = space_near(dest).available;
  s.runtime = runtime;
  s.runtime_hint = runtime_hint;
  if (!runtime.empty()) {
    s.runtime_version = find_program(runtime, path_value).empty() ? "" : version_of(runtime);
    if (s.runtime_version.empty())
      s.runtime_version = "missing";
  }
  boost::system::error_code ec;
  for (fs::directory_iterator it(dest / "envs", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool writable = name.size() == 34 && name.ends_with(".w"); // --link copy
    if ((name.size() != 32 && !writable) || name.find_first_not_of("0123456789abcdef") < 32)
      continue;
    MachineStatus::Installed e;
    e.hash = name;
    e.project = "?";
    try {
      const layout::Metadata m = layout::metadata_from_json(
          read_file(it->path() / layout::k_metadata_path, uint64_t(16) << 20, Follow::no), name);
      e.project = m.project;
      e.runtime = m.runtime;
    } catch (const std::exception&) {
    }
    e.last_used_ns = install::last_used_ns(dest / "envs", name);
    e.last_used = e.last_used_ns / 1'000'000'000;
    boost::system::error_code walk;
    for (fs::recursive_directory_iterator f(it->path(), walk), fend; !walk && f != fend; f.increment(walk))
      if (fs::is_regular_file(f->symlink_status()))
        e.bytes += fs::file_size(f->path(), walk);
    s.environments.push_back(std::move(e));
  }
  const install::Interrupted interrupted = install::interrupted_installs(dest);
  s.interrupted = interrupted.count;
  s.interrupted_bytes = interrupted.bytes;
  const install::OutputsUse outputs = install::outputs_use(dest);
  s.output_jobs = outputs.jobs;
  s.output_bytes = outputs.bytes;
  std::sort(s.environments.begin(), s.environments.end(), [](const auto& a, const auto& b) {
    return a.last_used_ns != b.last_used_ns ? a.last_used_ns > b.last_used_ns : a.hash < b.hash;
  });
  if (runtime.empty()) { // no project: the runtimes of what is installed
    std::vector<std::string> seen;
    for (const auto& e : s.environments)
      if (!e.runtime.empty() && std::find(seen.begin(), seen.end(), e.runtime) == seen.end()) {
        seen.push_back(e.runtime);
        std::string v = find_program(e.runtime, path_value).empty() ? "" : version_of(e.runtime);
        s.installed_runtimes.push_back(e.runtime + ": " + (v.empty() ? "missing" : v));
      }
  }
  return s;
}

std::string status_table(const std::vector<MachineStatus>& rows) {
  // One row per machine within 100 columns; its environments below it,
  // one line each, most recently used first.
  std::string out = fmt::format("{:<14} {:>7} {:>6} {:>10} {:>10}  {}\n", "host", "threads", "load",
                                "mem free", "dest free", "runtime; environments (size, last used) below");
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto ago = [now](int64_t t) {
    const int64_t s = std::max<int64_t>(0, now - t);
    return s < 3600     ? fmt::format("{} min ago", s / 60)
           : s < 172800 ? fmt::format("{} h ago", s / 3600)
                        : fmt::format("{} days ago", s / 86400);
  };
  for (const MachineStatus& s : rows) {
    std::string runtime = s.runtime.empty() ? "-" : s.runtime_version;
    if (s.runtime.empty() && !s.installed_runtimes.empty()) {
      runtime.clear();
      for (const std::string& r : s.installed_runtimes)
        runtime += (runtime.empty() ? "" : ", ") + r;
    }
    if (runtime.size() > 45)
      runtime = runtime.substr(0, 42) + "...";
    out += fmt::format("{:<14} {:>7} {:>6.2f} {:>10} {:>10}  {}\n", s.host, s.threads, s.load1,
                       human_bytes(s.mem_available), human_bytes(s.dest_free), runtime);
    for (const auto& e : s.environments)
      out += fmt::format("  {} {} ({}, {})\n", e.hash.substr(0, 8), e.project, human_bytes(e.bytes),
                         ago(e.last_used));
    if (s.interrupted)
      out += fmt::format("  {} interrupted install{} ({}: gc removes)\n", s.interrupted,
                         s.interrupted == 1 ? "" : "s", human_bytes(s.interrupted_bytes));
    if (s.output_jobs)
      out += fmt::format("  outputs of {} job{} ({} in outputs/: gc keeps the newest)\n", s.output_jobs,
                         s.output_jobs == 1 ? "" : "s", human_bytes(s.output_bytes));
  }
  std::vector<std::string> missing;
  for (const MachineStatus& s : rows)
    if (s.runtime_version == "missing")
      missing.push_back(s.host);
  if (!missing.empty()) {
    std::string hosts;
    for (const std::string& h : missing)
      hosts += (hosts.empty() ? "" : ", ") + h;
    out += fmt::format("runtime '{}' missing on {}: {}\n", rows.front().runtime, hosts,
                       rows.front().runtime_hint.empty() ? "install it there" : rows.front().runtime_hint);
  }
  return out;
}

} // namespace distenv::cluster
