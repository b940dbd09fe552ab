// The broadcast plan and the choice of receiving machines.
#include <distenv/cluster/plan.hpp>
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
  p.sizes = {{1, "u/proj/a"}, {4999, "u/proj/b b"}};
  auto q = cluster::JobPlan::decode(p.encode());
  EXPECT_EQ(q.tree_hash, p.tree_hash);
  EXPECT_EQ(q.project, "u/proj");
  EXPECT_EQ(q.sizes, p.sizes);
  EXPECT_EQ(q.disk_estimate(4096), 4 * 4096 + 4096 + 8192);
  EXPECT_THROW(cluster::JobPlan::decode("{}"), Error);
}

TEST(Plan, ReceiversAreMachinesWithoutTheEnvironmentOnePerStore) {
  EXPECT_EQ(cluster::choose_receivers({{true, "a"}, {true, "b"}}), std::vector<int>{});
  EXPECT_EQ(cluster::choose_receivers({{false, "a"}, {true, "b"}, {false, "c"}}), (std::vector<int>{0, 2}));
  // three machines on one shared store: the first installs for all
  EXPECT_EQ(cluster::choose_receivers({{false, "s"}, {false, "s"}, {false, "s"}, {false, "t"}}),
            (std::vector<int>{0, 3}));
}
