// The version handshake every job starts with.
#include <distenv/cluster/agreement.hpp>
#include <distenv/cluster/handshake.hpp>

#include "support/comm_fake.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>

using namespace distenv;

namespace {

// check_versions on every rank of a fake network, each with its own
// version; what each rank's call threw ("" when it returned).
std::vector<std::string> handshake(const std::vector<std::string>& versions) {
  transport::FakeNetwork net(std::vector<int>{0, 1, 2});
  std::vector<std::string> errors(versions.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      auto comm = net.world(r);
      try {
        cluster::check_versions(*comm, "node" + std::to_string(r + 1), 10, versions[static_cast<size_t>(r)]);
      } catch (const cluster::PhaseFailed& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
      net.leave(r);
    });
  for (auto& t : threads)
    t.join();
  return errors;
}

} // namespace

TEST(Handshake, OneVersionEverywherePasses) {
  EXPECT_EQ(handshake({"0.1.0", "0.1.0", "0.1.0"}), std::vector<std::string>(3));
}

TEST(Handshake, AnotherVersionOnOneMachineIsNamedOnEveryRank) {
  const std::string line = fmt::format("the machines run different distenv versions: 0.1.0 (protocol {0}) on "
                                       "node1, node3; 0.2.0 (protocol {0}) on node2; install one version on "
                                       "every machine",
                                       cluster::k_protocol);
  EXPECT_EQ(handshake({"0.1.0", "0.2.0", "0.1.0"}), std::vector<std::string>(3, line));
}
