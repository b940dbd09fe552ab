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
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Hello, version, protocol, host)

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

std::vector<std::string> check_versions(transport::Comm& world, const std::string& host, double seconds,
                                        const std::string& version, int protocol) {
  const auto replies = world.hello(encoded({version, protocol, host}), seconds);
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
  for (const Hello& h : all)
    if (h.version != all.front().version || h.protocol != all.front().protocol)
      throw PhaseFailed(
          {fmt::format("the machines run different distenv versions: {}; install one version on "
                       "every machine",
                       who_runs_what(all))},
          1);
  std::vector<std::string> hosts;
  for (const Hello& h : all)
    hosts.push_back(h.host);
  return hosts;
}

} // namespace distenv::cluster
