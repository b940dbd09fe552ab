// Pipelined broadcast schedules: chains and k-ary trees.
#include <distenv/transport/schedule.hpp>

#include <fmt/format.h>

namespace distenv::transport {

Links tree_links(int rank, int size, int root, int fanout) {
  Links links;
  const int rel = (rank - root + size) % size; // position with the root at 0
  auto abs = [&](int r) { return (r + root) % size; };
  if (rel > 0)
    links.parent = abs((rel - 1) / fanout);
  for (int c = rel * fanout + 1; c <= rel * fanout + fanout && c < size; ++c)
    links.children.push_back(abs(c));
  return links;
}

int choose_fanout(int size, uint64_t bytes, uint64_t chunk) {
  if (size <= 2 || chunk == 0)
    return 1;
  // Chain: (bytes + (size-2) * chunk) / B.  Binary tree: each inner node sends
  // everything twice: ~(2 * bytes + 2 * depth * chunk) / B.
  const uint64_t fill = static_cast<uint64_t>(size - 2) * chunk;
  return fill <= bytes ? 1 : 2;
}

std::string fanout_name(int fanout) {
  if (fanout == 1)
    return "chain";
  if (fanout == 2)
    return "binary tree";
  return fmt::format("{}-ary tree", fanout);
}

} // namespace distenv::transport
