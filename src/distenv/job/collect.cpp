// Phase collect: every machine's outputs back to one place.
#include <distenv/job/collect.hpp>

#include <distenv/job/collect_stream.hpp>
#include <distenv/transport/codec.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/util/style.hpp>
#include <distenv/workers/activation.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <random>

namespace distenv::job {

namespace {

struct Start {
  std::string job_id;
  std::vector<std::pair<int, std::string>> senders; // rank in the world, host
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Start, job_id, senders)

struct Named {
  std::string job_id;
  std::vector<std::string> collect;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Named, job_id, collect)

std::string receive_message(transport::Comm& comm, int from, int tag, transport::Received* got = nullptr) {
  std::string buffer(size_t(16) << 20, '\0'); // a start or a summary: ~40 bytes a machine
  const transport::Received r =
      comm.recv(from, tag, std::as_writable_bytes(std::span(buffer.data(), buffer.size())));
  buffer.resize(r.size);
  if (got)
    *got = r;
  return buffer;
}

void send_message(transport::Comm& comm, int to, int tag, const std::string& bytes) {
  comm.send(to, tag, std::as_bytes(std::span(bytes.data(), bytes.size())));
}

} // namespace

std::string new_job_id(const std::vector<std::string>& environment, std::time_t now, unsigned random) {
  std::string id;
  for (const char* var : {"SLURM_JOB_ID", "PBS_JOBID", "JOB_ID", "LSB_JOBID"}) {
    id = workers::env_value(environment, var);
    id = id.substr(0, id.find('.')); // PBS: "1234.server"
    if (!id.empty() &&
        std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum((unsigned char)c); }))
      break;
    id.clear();
  }
  if (id.empty())
    id = fmt::format("{:04x}", random & 0xffff);
  return fmt::format("{:%Y%m%d-%H%M%S}-{}", fmt::gmtime(now), id);
}

Outputs name_job(Session& s, const std::vector<std::string>& from_environment) {
  Named n;
  if (s.root()) {
    n.job_id = s.options.job_id.empty()
                   ? new_job_id(s.ctx.environment, std::time(nullptr), std::random_device{}())
                   : s.options.job_id;
    n.collect = s.options.collect;
    n.collect.insert(n.collect.end(), from_environment.begin(), from_environment.end());
  }
  n = transport::broadcast_value(s.ctx.world, n, 0);
  Outputs out;
  out.job_id = n.job_id;
  out.collect = n.collect;
  return out;
}

std::optional<report::JobReport::Collected> collect(Session& s, Outputs& out, bool job_failed) {
  if (out.done)
    return std::nullopt;
  out.done = true;
  const bool remote = s.ctx.results && s.ctx.collector >= 0;
  if (!remote && (out.collect.empty() || out.job_id.empty()))
    return std::nullopt;
  // Rank 0 decides for all (a stop reaches the ranks at different moments):
  // nothing is collected from a job distenv run was asked to stop.
  const bool sends = transport::broadcast_value(
      s.ctx.world, s.root() && !out.collect.empty() && !out.job_id.empty() && !stop_asked(), 0);
  if (s.ctx.observer) // (not Session::observe: a stop asked now fails nothing here)
    s.ctx.observer->phase(Phase::collect);
  if (!remote && !sends)
    return std::nullopt;
  transport::Comm& comm = remote ? *s.ctx.results : s.ctx.world;
  const int to = remote ? s.ctx.collector : 0;
  // Job rank r is world rank r, or r + 1 past the collecting rank.
  auto rank_of = [&](int job_rank) {
    return remote && job_rank >= s.ctx.collector ? job_rank + 1 : job_rank;
  };
  std::optional<PackedOutputs> mine;
  if (sends && s.leader()) {
    if (out.dir.empty()) { // the job ended before this machine's output directory was made
      mine.emplace();
      mine->info.host = s.ctx.host;
    } else {
      mine = pack_outputs(out.dir, out.collect, s.ctx.host);
    }
  }
  std::vector<std::pair<int, std::string>> senders;
  if (sends)
    for (const cluster::Machine& m : s.machines.all)
      senders.emplace_back(rank_of(m.leader), m.host);
  std::optional<report::JobReport::Collected> got;
  if (s.root() && remote)
    send_message(comm, to, k_tag_results_start, transport::encode(Start{out.job_id, senders}));
  if (s.root() && !remote) {
    got = receive_outputs(comm, senders, s.options.collect_into, out.job_id, mine ? &*mine : nullptr);
    got->host = s.ctx.host;
  } else if (mine) {
    send_outputs(comm, to, *mine);
  }
  if (s.root() && remote)
    got = transport::decode<report::JobReport::Collected>(receive_message(comm, to, k_tag_results_summary));
  s.lap(Phase::collect);
  if (got && !s.options.quiet && sends)
    s.ctx.out << got->summary() << std::flush;
  if (got && job_failed) { // else the report names them with the workers' failures
    for (const std::string& f : got->failures())
      s.ctx.err << error_prefix() + f + "\n";
    s.ctx.err << std::flush;
  }
  return sends ? got : std::nullopt;
}

int run_collector(const cli::Options& o, transport::Comm& world) {
  transport::Received from;
  const Start start =
      transport::decode<Start>(receive_message(world, transport::Comm::k_any, k_tag_results_start, &from));
  report::JobReport::Collected c =
      receive_outputs(world, start.senders, o.collect_into, start.job_id, nullptr);
  c.host = machine_name();
  send_message(world, from.source, k_tag_results_summary, transport::encode(c));
  return 0;
}

} // namespace distenv::job
