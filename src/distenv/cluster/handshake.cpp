// The version handshake every job starts with.
#include <distenv/cluster/handshake.hpp>

#include <distenv/cluster/agreement.hpp>
#include <distenv/transport/codec.hpp>

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <thread>

#ifndef DISTENV_VERSION
#define DISTENV_VERSION "0.1.0"
#endif

namespace distenv::cluster {

namespace {

struct Hello {
  std::string version;
  int protocol = 0;
  std::string host;
  bool collector = false; // the collecting rank (protocol 5 on); older versions ignore it
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Hello, version, protocol, host, collector)

std::string encoded(Hello h) {
  std::string bytes = transport::encode(h);
  if (bytes.size() > transport::Comm::k_hello_bytes) { // a very long host name: keep what fits
    h.host = h.host.substr(0, 100);
    bytes = transport::encode(h);
  }
  return bytes;
}

// "0.1.0 (protocol 2) on node1, node3; 0.2.0 (protocol 3) on node2"
std::string who_runs_what(const std::vector<Hello>& all) {
  std::map<std::pair<std::string, int>, std::vector<std::string>> by;
  for (const Hello& h : all) {
    auto& hosts = by[{h.version, h.protocol}];
    if (std::find(hosts.begin(), hosts.end(), h.host) == hosts.end())
      hosts.push_back(h.host);
  }
  std::string out;
  for (const auto& [which, hosts] : by) {
    std::string names;
    for (const std::string& host : hosts)
      names += (names.empty() ? "" : ", ") + host;
    out += fmt::format("{}{} (protocol {}) on {}", out.empty() ? "" : "; ", which.first, which.second, names);
  }
  return out;
}

} // namespace

const char* version() {
  return DISTENV_VERSION;
}

namespace {

void check_same(const std::vector<Hello>& all) {
  for (const Hello& h : all)
    if (h.version != all.front().version || h.protocol != all.front().protocol)
      throw PhaseFailed(
          {fmt::format("the machines run different distenv versions: {}; install one version on "
                       "every machine",
                       who_runs_what(all))},
          1);
}

std::vector<Hello> hello(transport::Comm& world, const Hello& mine, double seconds) {
  const auto replies = world.hello(encoded(mine), seconds);
  if (!replies) {
    // Every rank that waited says so; rank 0 first, so that one line (its)
    // is what people read before MPI_Abort ends everything.
    if (world.rank() != 0)
      std::this_thread::sleep_for(std::chrono::seconds(3));
    throw transport::CommError(fmt::format(
        "not every machine answered within {:g} s when the job started: a machine may run another distenv "
        "version, one without this handshake (compare `distenv version` on each), or be stuck; "
        "--connect-timeout "
        "says how long to wait",
        seconds));
  }
  std::vector<Hello> all;
  for (const std::string& bytes : *replies)
    all.push_back(transport::decode<Hello>(bytes));
  check_same(all);
  return all;
}

} // namespace

std::vector<std::string> check_versions(transport::Comm& world, const std::string& host, double seconds,
                                        const std::string& version, int protocol) {
  std::vector<std::string> hosts;
  for (const Hello& h : hello(world, {version, protocol, host}, seconds))
    hosts.push_back(h.host);
  return hosts;
}

Entered enter(transport::Comm& world, const std::string& host, double seconds, bool collector) {
  Entered e;
  int collectors = 0;
  const std::vector<Hello> all = hello(world, {version(), k_protocol, host, collector}, seconds);
  for (size_t rank = 0; rank < all.size(); ++rank)
    if (all[rank].collector) {
      e.collector = static_cast<int>(rank);
      e.collector_host = all[rank].host;
      ++collectors;
    }
  // Every rank sees the same hellos, so every rank throws this or none.
  if (collectors > 1 || collectors == static_cast<int>(all.size()))
    throw PhaseFailed({fmt::format("{} of {} ranks were started with --collector: a job has one collecting "
                                   "rank beside its machines' ranks",
                                   collectors, all.size())},
                      2);
  e.job = world.split(collector ? 1 : 0);
  return e;
}

} // namespace distenv::cluster
