// The modes that look at every machine's store without installing: status and gc.
#include <distenv/job/status.hpp>

#include <distenv/cluster/machines.hpp>
#include <distenv/cluster/status.hpp>
#include <distenv/env/environment.hpp>
#include <distenv/hash/hash_cache.hpp>
#include <distenv/job/session.hpp>
#include <distenv/pipeline.hpp>
#include <distenv/transport/codec.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/units.hpp>
#include <distenv/workers/activation.hpp>

#include <fmt/format.h>

#include <ctime>

namespace distenv::job {

namespace {

// The runtime to look for: the environment's, when there is one to read;
// else each machine reports the runtimes its installed environments need.
std::pair<std::string, std::string> runtime_of(const cli::Options& o) {
  try {
    env::ReadOptions read;
    read.project_dir = o.project;
    const env::Environment e = env::read_environment(read);
    return {e.activation.runtime, e.activation.runtime_hint};
  } catch (const Error&) {
    return {};
  }
}

std::string gc_line(const cli::Options& o, const std::string& host) {
  try {
    install::Store store = store_for(o);
    const auto c = store.collect(static_cast<size_t>(o.gc_keep), o.gc_dry_run);
    std::string line =
        fmt::format("{}: {} {} ({}), kept {}, in use {}", host, o.gc_dry_run ? "would remove" : "removed",
                    c.removed.size(), human_bytes(c.bytes_freed), c.kept.size(), c.busy.size());
    if (c.interrupted.count)
      line += fmt::format("; {} {} interrupted install{} ({})", o.gc_dry_run ? "would remove" : "removed",
                          c.interrupted.count, c.interrupted.count == 1 ? "" : "s",
                          human_bytes(c.interrupted.bytes));
    if (c.outputs.removed || c.outputs.busy)
      line += fmt::format("; {} the outputs of {} job{} ({}){}", o.gc_dry_run ? "would remove" : "removed",
                          c.outputs.removed, c.outputs.removed == 1 ? "" : "s",
                          human_bytes(c.outputs.bytes_freed),
                          c.outputs.busy ? fmt::format(", {} running", c.outputs.busy) : "");
    // The hash caches of rank 0's reading (this user's, on this machine).
    if (!o.gc_dry_run)
      if (const auto [files, bytes] = hash::HashCache::prune(hash::HashCache::default_dir()); files)
        line += fmt::format("; hash cache: removed {} file{} ({})", files, files == 1 ? "" : "s",
                            human_bytes(bytes));
    for (size_t i = 0; i < c.removed.size(); ++i) {
      char used[32] = "";
      struct tm tm {};
      if (::localtime_r(&c.removed_used[i], &tm))
        std::strftime(used, sizeof used, "%Y-%m-%d %H:%M", &tm);
      line += fmt::format("\n  {}  last used {}", c.removed[i], used);
    }
    return line;
  } catch (const std::exception& e) {
    return fmt::format("{}: gc failed: {}", host, e.what());
  }
}

} // namespace

int status(const cli::Options& o, JobContext& ctx) {
  transport::Comm& world = ctx.world;
  const cluster::Membership joined = join(o, ctx);
  const cluster::Machines& machines = joined.machines;
  std::pair<std::string, std::string> runtime;
  if (world.rank() == 0)
    runtime = runtime_of(o);
  runtime = transport::broadcast_value(world, runtime, 0);
  std::string mine; // leaders only
  if (machines.leader) {
    cluster::MachineStatus s = cluster::collect_status(o.dest, runtime.first, runtime.second,
                                                       workers::env_value(ctx.environment, "PATH"));
    s.host = ctx.host;
    s.ranks = machines.mine().ranks;
    mine = transport::encode(s);
  }
  const std::vector<std::string> all = world.gather(mine, 0);
  if (world.rank() == 0) {
    std::vector<cluster::MachineStatus> rows;
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const std::string& bytes : all)
      if (!bytes.empty()) {
        rows.push_back(transport::decode<cluster::MachineStatus>(bytes));
        j.push_back(nlohmann::ordered_json::from_cbor(bytes));
      }
    ctx.out << cluster::status_table(rows) << std::flush;
    write_report(o.report, j);
  }
  return 0;
}

int gc(const cli::Options& o, JobContext& ctx) {
  const cluster::Membership joined = join(o, ctx);
  const cluster::Machines& machines = joined.machines;
  const std::string line = machines.leader ? gc_line(o, ctx.host) : std::string();
  for (const std::string& l : transport::gather_values(ctx.world, line, 0))
    if (!l.empty())
      ctx.out << fmt::format("distenv: gc{} {}\n", o.gc_dry_run ? " (dry run)" : "", l);
  ctx.out << std::flush;
  return 0;
}

} // namespace distenv::job
