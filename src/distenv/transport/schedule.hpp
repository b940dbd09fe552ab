#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace distenv::transport {

// Who a rank receives the stream from and forwards it to, in a pipelined
// k-ary tree rooted at `root` over `size` ranks: k = 1 is a chain, k = 2 a
// binary tree. Plain data, so the schedule can be tested (and simulated)
// without MPI. See docs/broadcast.md for the cost model.
struct Links {
  int parent = -1; // -1 on the root
  std::vector<int> children;
};

Links tree_links(int rank, int size, int root, int fanout);

// The fan-out the cost model prefers for `size` ranks, a stream of `bytes`
// and chunks of `chunk` bytes: a chain while its pipeline fill ((size-2)
// chunks) costs less than a second copy of the stream, else a binary tree.
int choose_fanout(int size, uint64_t bytes, uint64_t chunk);

// "chain" / "binary tree" / "4-ary tree", for reports.
std::string fanout_name(int fanout);

} // namespace distenv::transport
