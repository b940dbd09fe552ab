// The broadcast plan and the choice of receiving machines.
#include <distenv/cluster/plan.hpp>
#include <distenv/transport/comm.hpp>
#include <distenv/util/error.hpp>

#include <gtest/gtest.h>

using namespace distenv;
using cluster::StoreState;

TEST(Plan, EncodeDecodeAndDiskEstimate) {
  cluster::JobPlan p;
  p.tree_hash = hash::hash_bytes("x");
  p.project = "u/proj";
  p.entries = 4;
  p.files = 2;
  p.bytes = 5000;
  p.contents = {{hash::hash_bytes("a"), 1, 1}, {hash::hash_bytes("b"), 4999, 2}};
  const std::string wire = p.encode();
  auto q = cluster::JobPlan::decode(wire);
  EXPECT_EQ(q.tree_hash, p.tree_hash);
  EXPECT_EQ(q.project, "u/proj");
  EXPECT_EQ(q.entries, 4u);
  EXPECT_EQ(q.files, 2u);
  EXPECT_EQ(q.bytes, 5000u);
  ASSERT_EQ(q.contents.size(), 2u);
  EXPECT_EQ(q.contents[1].hash, hash::hash_bytes("b"));
  EXPECT_EQ(q.contents[1].size, 4999u);
  EXPECT_EQ(q.contents[1].count, 2u);
  EXPECT_EQ(q.disk_estimate(4096), 4 * 4096 + 4096 + 2 * 8192);
  // Compact: 16 bytes of hash and two small numbers per distinct content.
  EXPECT_LE(wire.size(), 3 + 16 + 1 + 6 + 3 + 1 + 2 * (16 + 2 + 1) + 1);
  EXPECT_TRUE(q.units.empty());
  // A depot's plan names its units too.
  p.units = {"artifacts/0123", "packages/Example/3rsi"};
  EXPECT_EQ(cluster::JobPlan::decode(p.encode()).units, p.units);
  // Malformed peer data is a CommError: the job cannot agree any more.
  EXPECT_THROW(cluster::JobPlan::decode("{}"), transport::CommError);
  EXPECT_THROW(cluster::JobPlan::decode(wire.substr(0, wire.size() - 3)), transport::CommError);
}

TEST(Plan, ReceiversAreMachinesWithoutTheEnvironmentOnePerStore) {
  EXPECT_EQ(cluster::choose_receivers({{true, "a"}, {true, "b"}}), std::vector<int>{});
  EXPECT_EQ(cluster::choose_receivers({{false, "a"}, {true, "b"}, {false, "c"}}), (std::vector<int>{0, 2}));
  // three machines on one shared store: the first installs for all
  EXPECT_EQ(cluster::choose_receivers({{false, "s"}, {false, "s"}, {false, "s"}, {false, "t"}}),
            (std::vector<int>{0, 3}));
}
