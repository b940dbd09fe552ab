// Broadcast schedules: every rank reached exactly once, from its parent.
#include <distenv/transport/schedule.hpp>

#include <gtest/gtest.h>

#include <set>

using namespace distenv::transport;

namespace {

// Walks the tree from the root; every rank is reached once and the parent
// each rank names is the one that lists it as a child.
void expect_spanning_tree(int size, int root, int fanout) {
  std::set<int> reached{root};
  std::vector<int> todo{root};
  EXPECT_EQ(tree_links(root, size, root, fanout).parent, -1);
  while (!todo.empty()) {
    int r = todo.back();
    todo.pop_back();
    auto links = tree_links(r, size, root, fanout);
    EXPECT_LE(static_cast<int>(links.children.size()), fanout);
    for (int c : links.children) {
      EXPECT_TRUE(reached.insert(c).second) << "rank " << c << " reached twice";
      EXPECT_EQ(tree_links(c, size, root, fanout).parent, r);
      todo.push_back(c);
    }
  }
  EXPECT_EQ(static_cast<int>(reached.size()), size);
}

} // namespace

TEST(Schedule, ChainsAndTreesSpanEveryRank) {
  for (int size : {1, 2, 3, 4, 7, 16, 33})
    for (int fanout : {1, 2, 3, 4})
      for (int root : {0, size - 1})
        expect_spanning_tree(size, root, fanout);
}

TEST(Schedule, ChainIsAChain) {
  auto l = tree_links(2, 5, 0, 1);
  EXPECT_EQ(l.parent, 1);
  EXPECT_EQ(l.children, std::vector<int>{3});
  EXPECT_TRUE(tree_links(4, 5, 0, 1).children.empty());
}

TEST(Schedule, CostModelPrefersChainUntilItsFillCostsMoreThanACopy) {
  const uint64_t mib = 1 << 20;
  EXPECT_EQ(choose_fanout(2, 1, 4 * mib), 1);
  EXPECT_EQ(choose_fanout(16, 256 * mib, 4 * mib), 1);  // fill 56 MiB < 256 MiB
  EXPECT_EQ(choose_fanout(100, 256 * mib, 4 * mib), 2); // fill 392 MiB > 256 MiB
  EXPECT_EQ(choose_fanout(3, 1024, 4 * mib), 2);        // tiny stream: depth matters more
  EXPECT_EQ(fanout_name(1), "chain");
  EXPECT_EQ(fanout_name(2), "binary tree");
  EXPECT_EQ(fanout_name(4), "4-ary tree");
}
