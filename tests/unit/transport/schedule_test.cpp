// Broadcast schedules: every rank reached exactly once, from its parent.
#include <distenv/transport/schedule.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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

// Both trees of a two-tree span every rank but the root, each rank's parent
// lists it as a child, no rank is interior (has children) in both trees, and
// each tree is binary and shallow.
void expect_two_tree(int size, int root) {
  std::vector<std::vector<Links>> all;
  for (int r = 0; r < size; ++r)
    all.push_back(two_tree_links(r, size, root));
  for (int t = 0; t < 2; ++t) {
    std::vector<int> reached(static_cast<size_t>(size), 0);
    for (int r = 0; r < size; ++r) {
      const Links& l = all[static_cast<size_t>(r)][static_cast<size_t>(t)];
      if (r == root) {
        EXPECT_EQ(l.parent, -1);
        ASSERT_EQ(l.children.size(), 1u) << "the root feeds one rank per tree";
      } else {
        ASSERT_GE(l.parent, 0) << "size " << size << " rank " << r;
        const auto& siblings = all[static_cast<size_t>(l.parent)][static_cast<size_t>(t)].children;
        EXPECT_NE(std::find(siblings.begin(), siblings.end(), r), siblings.end()) << size << " " << r;
        EXPECT_LE(l.children.size(), 2u);
        int depth = 0;
        for (int at = r; at != root && depth <= size; ++depth)
          at = all[static_cast<size_t>(at)][static_cast<size_t>(t)].parent;
        EXPECT_LE(depth, 2 + static_cast<int>(std::log2(size))) << "size " << size << " rank " << r;
      }
      for (int c : l.children)
        ++reached[static_cast<size_t>(c)];
    }
    for (int r = 0; r < size; ++r)
      EXPECT_EQ(reached[static_cast<size_t>(r)], r == root ? 0 : 1)
          << "size " << size << " tree " << t << " rank " << r;
  }
  for (int r = 0; r < size; ++r)
    if (r != root && size > 2)
      EXPECT_FALSE(!all[static_cast<size_t>(r)][0].children.empty() &&
                   !all[static_cast<size_t>(r)][1].children.empty())
          << "size " << size << ": rank " << r << " forwards in both trees";
}

TEST(Schedule, TwoTreesSpanEveryRankWithDisjointInteriors) {
  for (int size = 2; size <= 130; ++size)
    expect_two_tree(size, 0);
  for (int size : {255, 256, 257, 1000, 1024, 1025, 4096})
    expect_two_tree(size, 0);
  expect_two_tree(17, 5);
}

TEST(Schedule, MethodsByName) {
  EXPECT_EQ(parse_method("chain"), Method::chain());
  EXPECT_EQ(parse_method("tree"), Method::binary_tree());
  EXPECT_EQ(parse_method("twotree"), Method::twotree());
  EXPECT_EQ(parse_method("mpi"), Method::mpi_bcast());
  EXPECT_EQ(parse_method("4"), (Method{Method::tree, 4}));
  EXPECT_FALSE(parse_method("0"));
  EXPECT_FALSE(parse_method("star"));
  EXPECT_EQ(method_name(Method::chain()), "chain");
  EXPECT_EQ(method_name(Method::binary_tree()), "binary tree");
  EXPECT_EQ(method_name(Method{Method::tree, 4}), "4-ary tree");
  EXPECT_EQ(method_name(Method::twotree()), "two-tree");
}

TEST(Schedule, CostModelChainForFewMachinesTwoTreeForMany) {
  const uint64_t mib = 1 << 20;
  const double b = 1.25e9;
  // The figures of docs/broadcast.md (S = 256 MiB, 1 MiB chunks, 10 Gb/s).
  EXPECT_NEAR(predicted_seconds(Method::chain(), 64, 256 * mib, mib, b, 0), 0.267, 0.003);
  EXPECT_NEAR(predicted_seconds(Method::binary_tree(), 1024, 256 * mib, mib, b, 0), 0.445, 0.01);
  EXPECT_EQ(choose_method(2, 256 * mib, mib), Method::chain());
  EXPECT_EQ(choose_method(8, 256 * mib, mib), Method::chain());
  EXPECT_EQ(choose_method(1024, 256 * mib, mib), Method::twotree());
  // The two-tree stays near S/B at any size: the fill is about a tenth of it.
  for (int n : {64, 256, 1024, 4096})
    EXPECT_LT(predicted_seconds(Method::twotree(), n, 256 * mib, choose_chunk_size(n, 256 * mib), b, 2e-6),
              1.12 * 256 * mib / b)
        << n;
}

TEST(Schedule, ChunkSizeFromStreamAndMachines) {
  const uint64_t kib = 1 << 10, mib = 1 << 20;
  EXPECT_EQ(choose_chunk_size(2, 10 * kib), 64 * kib);       // at least 64 KiB
  EXPECT_EQ(choose_chunk_size(3, 4096 * mib), 4 * mib);      // at most 4 MiB
  EXPECT_EQ(choose_chunk_size(1024, 256 * mib), 1280 * kib); // 0.05 x 256 MiB / 10
  EXPECT_LT(choose_chunk_size(4096, 256 * mib), choose_chunk_size(64, 256 * mib));
  EXPECT_EQ(choose_chunk_size(64, 256 * mib) % (64 * kib), 0u);
}
