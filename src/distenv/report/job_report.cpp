// The job's summary: per machine, gathered on rank 0.
#include <distenv/report/job_report.hpp>

#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace distenv::report {

const char* to_string(Install install) {
  switch (install) {
  case Install::received:
    return "received";
  case Install::shared:
    return "shared";
  case Install::reused:
    break;
  }
  return "reused";
}

nlohmann::ordered_json JobReport::json() const {
  nlohmann::ordered_json j;
  j["tree_hash"] = tree_hash;
  j["machines"] = machines;
  j["ranks"] = ranks;
  j["plan_bytes"] = plan_bytes;
  j["archive_bytes"] = archive_bytes;
  j["receivers"] = receivers;
  j["hashed_files"] = hashed_files;
  j["cached_files"] = cached_files;
  j["algorithm"] = algorithm;
  j["chunk_bytes"] = chunk_bytes;
  j["transfer_seconds"] = transfer_seconds;
  if (!compiled.empty()) {
    j["compiled"] = nlohmann::ordered_json::array();
    for (const Compiled& c : compiled)
      j["compiled"].push_back({{"class", c.name},
                               {"compiler", c.compiler},
                               {"machines", c.machines},
                               {"compile_seconds", c.compile_seconds},
                               {"files", c.files},
                               {"bytes", c.bytes},
                               {"archive_bytes", c.archive_bytes},
                               {"receivers", c.receivers}});
  }
  if (depot)
    j["depot"] = {{"dir", depot->dir},
                  {"units", depot->units},
                  {"files", depot->files},
                  {"bytes", depot->bytes},
                  {"units_sent", depot->units_sent},
                  {"archive_bytes", depot->archive_bytes},
                  {"receivers", depot->receivers},
                  {"seconds", depot->seconds},
                  {"runtime", depot->runtime}};
  j["wall_seconds"] = wall_seconds;
  nlohmann::ordered_json phases = nlohmann::ordered_json::object();
  for (const auto& [name, secs] : phase_seconds)
    phases[name] = secs;
  j["phase_seconds"] = phases;
  j["command"] = command;
  nlohmann::ordered_json ms = nlohmann::ordered_json::array();
  for (const MachineResult& r : results) {
    nlohmann::ordered_json m;
    m["host"] = r.host;
    m["ranks"] = r.ranks;
    m["install_dir"] = r.install_dir;
    m["project_dir"] = r.project_dir;
    m["install"] = r.install;
    m["received"] = r.install == Install::received;
    m["bytes_received"] = r.bytes_received;
    m["local_files"] = r.local_files;
    m["local_bytes"] = r.local_bytes;
    m["kept_files"] = r.kept_files;
    m["kept_bytes"] = r.kept_bytes;
    m["install_seconds"] = r.install_seconds;
    m["peak_rss_kib"] = r.peak_rss_kib;
    nlohmann::ordered_json mp = nlohmann::ordered_json::object();
    for (const auto& [name, secs] : r.phase_seconds)
      mp[name] = secs;
    m["phase_seconds"] = mp;
    nlohmann::ordered_json ws = nlohmann::ordered_json::array();
    for (const auto& w : r.workers)
      ws.push_back({{"worker", w.id}, {"exit_code", w.status}, {"how", w.how}});
    m["workers"] = ws;
    m["written_entries"] = r.written_entries;
    m["written_bytes"] = r.written_bytes;
    ms.push_back(m);
  }
  j["per_machine"] = ms;
  if (collected)
    j["collected"] = nlohmann::ordered_json::parse(nlohmann::json(*collected).dump()); // its fields, in order
  j["exit_code"] = exit_code();
  return j;
}

std::vector<std::string> JobReport::failures() const {
  std::vector<std::string> out;
  for (const MachineResult& r : results)
    for (const auto& w : r.workers)
      if (w.status != 0)
        out.push_back(fmt::format("{}: worker {} {}", r.host, w.id, w.how));
  if (collected)
    for (const std::string& f : collected->failures())
      out.push_back(f);
  return out;
}

std::vector<std::string> JobReport::Collected::failures() const {
  std::vector<std::string> out;
  for (const Machine& m : machines)
    if (!m.error.empty())
      out.push_back(fmt::format("{}: collect: {}", m.host, m.error));
  return out;
}

std::string JobReport::Collected::summary() const {
  std::string out;
  uint64_t files = 0, bytes = 0, archive = 0;
  for (const Machine& m : machines) {
    files += m.files;
    bytes += m.bytes;
    archive += m.archive_bytes;
    out += fmt::format("distenv: collected {:<12} {} file{}, {}{}{}\n", m.host + ":", m.files,
                       m.files == 1 ? "" : "s", human_bytes(m.bytes),
                       m.archive_bytes ? fmt::format(" ({} sent)", human_bytes(m.archive_bytes)) : "",
                       m.skipped ? fmt::format("; {} not regular files left out", m.skipped) : "");
  }
  out += fmt::format("distenv: results: {} file{}, {} ({} sent) from {} machine{} in {}:{}\n", files,
                     files == 1 ? "" : "s", human_bytes(bytes), human_bytes(archive), machines.size(),
                     machines.size() == 1 ? "" : "s", host, dir);
  return out;
}

int JobReport::exit_code() const {
  for (const MachineResult& r : results)
    for (const auto& w : r.workers)
      if (w.status != 0)
        return w.status;
  return collected && !collected->failures().empty() ? 1 : 0;
}

std::string JobReport::compiled_summary() const {
  std::string out;
  for (const Compiled& c : compiled) {
    out += fmt::format("distenv: compiled once for class {} ({} machine{}): on {} in {:.1f} s", c.name,
                       c.machines, c.machines == 1 ? "" : "s", c.compiler, c.compile_seconds);
    if (c.files)
      out += fmt::format("; {} cache file{} ({}) sent to the {} machine{} that lacked them ({} streamed)",
                         c.files, c.files == 1 ? "" : "s", human_bytes(c.bytes), c.receivers,
                         c.receivers == 1 ? "" : "s", human_bytes(c.archive_bytes));
    else if (c.machines > 1)
      out += "; the other machines had every cache";
    out += "\n";
  }
  return out;
}

std::string JobReport::install_summary() const {
  std::string out;
  out += fmt::format("distenv: {} machine{} ({} rank{}), environment {}\n", machines,
                     machines == 1 ? "" : "s", ranks, ranks == 1 ? "" : "s", tree_hash);
  // The source machine (machine 0) packs what it installs: it receives nothing.
  const bool source_installed = std::any_of(results.begin(), results.end(), [](const MachineResult& r) {
    return r.machine == 0 && r.install == Install::received;
  });
  const int remote = receivers - (source_installed ? 1 : 0);
  if (receivers == 0)
    out += fmt::format("distenv: every machine already had it: nothing sent\n");
  else if (remote == 0)
    out += fmt::format("distenv: installed locally ({} packed) in {:.2f} s\n", human_bytes(archive_bytes),
                       transfer_seconds);
  else
    out += fmt::format("distenv: sent {} to {} machine{} by {} in {:.2f} s{}\n", human_bytes(archive_bytes),
                       remote, remote == 1 ? "" : "s", algorithm, transfer_seconds,
                       source_installed ? ", installed here too" : "");
  if (depot) {
    // "2 registered packages and artifacts and the Julia runtime"
    const uint64_t units = depot->units - (depot->runtime ? 1 : 0);
    std::string what = units ? fmt::format("{} registered packages and artifacts", units) : std::string();
    if (depot->runtime)
      what += std::string(units ? " and " : "") + "the Julia runtime";
    if (depot->units_sent == 0)
      out += fmt::format("distenv: depot {}: {} ({}), every machine had them\n", depot->dir, what,
                         human_bytes(depot->bytes));
    else
      out +=
          fmt::format("distenv: depot {}: {} ({}); {} of them went to the {} machine{} that lacked them ({} "
                      "packed, {:.2f} s)\n",
                      depot->dir, what, human_bytes(depot->bytes), depot->units_sent, depot->receivers,
                      depot->receivers == 1 ? "" : "s", human_bytes(depot->archive_bytes), depot->seconds);
  }
  for (const MachineResult& r : results) {
    const bool source = r.machine == 0 && r.install == Install::received;
    std::string line = fmt::format("  {:<12} {} rank{}  {:<8}", r.host, r.ranks, r.ranks == 1 ? " " : "s",
                                   source ? "source" : to_string(r.install));
    if (source) {
      line += fmt::format(" installed in {:.2f} s", r.install_seconds);
    } else if (r.install == Install::received) {
      line += fmt::format(" {} in {:.2f} s", human_bytes(r.bytes_received), r.install_seconds);
    }
    if (r.install == Install::received && r.local_files)
      line += fmt::format(", {} file{} ({}) from local copies", r.local_files, r.local_files == 1 ? "" : "s",
                          human_bytes(r.local_bytes));
    if (r.install == Install::received && r.kept_files)
      line += fmt::format(", {} file{} ({}) kept from the previous version", r.kept_files,
                          r.kept_files == 1 ? "" : "s", human_bytes(r.kept_bytes));
    if (!r.repaired.empty())
      line += fmt::format(", repaired ({})", r.repaired);
    out += line + fmt::format("  {}\n", r.project_dir);
  }
  return out;
}

std::string JobReport::workers_summary(bool verbose) const {
  std::string out;
  int workers = 0, ok = 0;
  if (verbose)
    for (const MachineResult& r : results) {
      std::string line = fmt::format("  {:<12} seconds:", r.host);
      for (const auto& [name, secs] : r.phase_seconds)
        line += fmt::format(" {} {:.3f}", name, secs);
      out += line + "\n";
      if (!r.stream_waits.empty()) // which stage bounded the transfer here
        out += fmt::format("  {:<12} stream: {}\n", r.host, r.stream_waits);
    }
  for (const MachineResult& r : results) {
    if (r.workers.empty())
      continue;
    int wok = 0;
    for (const auto& w : r.workers)
      wok += w.status == 0;
    workers += static_cast<int>(r.workers.size());
    ok += wok;
    out += fmt::format("  {:<12} workers {}/{} ok\n", r.host, wok, r.workers.size());
  }
  if (!command.empty())
    out += fmt::format("distenv: workers {}/{} ok; wall time {:.2f} s\n", ok, workers, wall_seconds);
  else
    out += fmt::format("distenv: installed; wall time {:.2f} s\n", wall_seconds);
  return out;
}

} // namespace distenv::report
