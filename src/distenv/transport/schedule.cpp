// Pipelined broadcast schedules: chains, k-ary trees and the two-tree; the
// cost model that chooses among them.
#include <distenv/transport/schedule.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace distenv::transport {

namespace {

// The in-order binary tree over positions 1..n: the root of a range is the
// position in it with the most trailing zero bits, so the leaves are exactly
// the odd positions and the interior ones the even positions.
int range_root(int lo, int hi) {
  for (int bit = 30; bit >= 0; --bit) {
    const int m = (hi >> bit) << bit;
    if (m >= lo && m > 0)
      return m;
  }
  return lo;
}

struct InOrder {
  int parent = 0; // 0: the tree's root
  std::vector<int> children;
};

// Position `i`'s parent and children in the in-order tree over 1..n.
InOrder in_order(int i, int n) {
  InOrder out;
  int lo = 1, hi = n, parent = 0;
  for (;;) {
    const int r = range_root(lo, hi);
    if (r == i) {
      if (lo <= i - 1)
        out.children.push_back(range_root(lo, i - 1));
      if (i + 1 <= hi)
        out.children.push_back(range_root(i + 1, hi));
      out.parent = parent;
      return out;
    }
    parent = r;
    if (i < r)
      hi = r - 1;
    else
      lo = r + 1;
  }
}

// Levels of the in-order tree over lo..hi (0 for an empty range).
int in_order_levels(int lo, int hi) {
  if (lo > hi)
    return 0;
  const int r = range_root(lo, hi);
  return 1 + std::max(in_order_levels(lo, r - 1), in_order_levels(r + 1, hi));
}

// Levels below the root of the heap-ordered k-ary tree over `size` ranks.
int tree_depth(int size, int fanout) {
  int depth = 0;
  for (long long last = 0, width = 1; last < size - 1; ++depth) {
    width *= fanout;
    last += width;
  }
  return depth;
}

} // namespace

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

std::vector<Links> two_tree_links(int rank, int size, int root) {
  std::vector<Links> trees(2);
  const int n = size - 1; // the ranks other than the root, at positions 1..n
  if (n <= 0)
    return trees;
  const int rel = (rank - root + size) % size;
  auto abs = [&](int position) { return (position + root) % size; };
  // The second tree is the first with its positions renamed: mirrored when
  // n is even, shifted by one when n is odd. Either way the renaming maps
  // the first tree's interior (even) positions onto odd ones, so no rank is
  // interior in both.
  auto role = [&](int p) { return n % 2 == 0 ? n + 1 - p : (p == 1 ? n : p - 1); };
  auto holder = [&](int r) { return n % 2 == 0 ? n + 1 - r : (r == n ? 1 : r + 1); }; // role^-1
  const int root1 = range_root(1, n), root2 = holder(range_root(1, n));
  if (rel == 0) {
    trees[0].children = {abs(root1)};
    trees[1].children = {abs(root2)};
    return trees;
  }
  const InOrder first = in_order(rel, n);
  trees[0].parent = first.parent ? abs(first.parent) : root;
  for (int c : first.children)
    trees[0].children.push_back(abs(c));
  const InOrder second = in_order(role(rel), n);
  trees[1].parent = second.parent ? abs(holder(second.parent)) : root;
  for (int c : second.children)
    trees[1].children.push_back(abs(holder(c)));
  return trees;
}

std::optional<Method> parse_method(const std::string& text) {
  if (text == "chain")
    return Method::chain();
  if (text == "tree")
    return Method::binary_tree();
  if (text == "twotree")
    return Method::twotree();
  if (text == "mpi")
    return Method::mpi_bcast();
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const int k = std::stoi(text);
  if (k < 1)
    return std::nullopt;
  return Method{Method::tree, k};
}

std::string method_name(const Method& m) {
  switch (m.kind) {
  case Method::two_tree:
    return "two-tree";
  case Method::mpi:
    return "mpi";
  case Method::tree:
    break;
  }
  if (m.fanout == 1)
    return "chain";
  if (m.fanout == 2)
    return "binary tree";
  return fmt::format("{}-ary tree", m.fanout);
}

std::vector<Links> schedule(const Method& m, int rank, int size, int root) {
  switch (m.kind) {
  case Method::tree:
    return {tree_links(rank, size, root, m.fanout)};
  case Method::two_tree:
    if (effective_method(m, size).kind == Method::tree)
      return {tree_links(rank, size, root, 1)};
    return two_tree_links(rank, size, root);
  case Method::mpi:
    break;
  }
  return {};
}

double predicted_seconds(const Method& m, int size, uint64_t bytes, uint64_t chunk, double bandwidth,
                         double latency) {
  if (size <= 1)
    return 0;
  const double s = static_cast<double>(bytes),
               c = static_cast<double>(std::min<uint64_t>(chunk, bytes ? bytes : 1));
  switch (m.kind) {
  case Method::tree: {
    // Every interior rank sends each chunk to `fanout` children over one
    // link: the stream moves at B / fanout, and the last rank is `depth`
    // hops from the root, each a chunk's time at that rate.
    const int k = std::min(m.fanout, size - 1);
    const int depth = tree_depth(size, k);
    return (k * s + (depth - 1) * k * c) / bandwidth + depth * latency;
  }
  case Method::two_tree: {
    // Each tree carries half the stream at B / 2 (the root feeds two trees,
    // interior ranks two children), so the stream takes S / B; the last
    // rank is 1 + levels hops away, each a chunk at B / 2.
    const int hops = 1 + in_order_levels(1, size - 1);
    return (s + (hops - 1) * 2 * c) / bandwidth + hops * latency;
  }
  case Method::mpi:
    break;
  }
  return 0;
}

Method choose_method(int size, uint64_t bytes, uint64_t chunk) {
  // 10 Gb/s and 2 us: only the ratio of latency to chunk time matters, and
  // it is small on any cluster network.
  constexpr double bandwidth = 1.25e9, latency = 2e-6;
  Method best = Method::chain();
  double best_s = predicted_seconds(best, size, bytes, chunk, bandwidth, latency);
  for (const Method& m : {Method::binary_tree(), Method::twotree()}) {
    const double s = predicted_seconds(m, size, bytes, chunk, bandwidth, latency);
    if (s < best_s * 0.98) { // a clear win only: the chain is the simplest
      best = m;
      best_s = s;
    }
  }
  return best;
}

uint64_t choose_chunk_size(int size, uint64_t bytes) {
  constexpr uint64_t lo = 64 << 10, hi = 4 << 20;
  const double levels = std::max(1.0, std::log2(std::max(2, size)));
  const uint64_t c = static_cast<uint64_t>(0.05 * static_cast<double>(bytes) / levels);
  const uint64_t clamped = std::clamp(c, lo, hi);
  return clamped / lo * lo; // a multiple of 64 KiB
}

Method effective_method(const Method& m, int size) {
  return m.kind == Method::two_tree && size <= 2 ? Method::chain() : m;
}

BroadcastPlan plan_broadcast(int size, uint64_t bytes, std::optional<Method> method, uint64_t chunk) {
  BroadcastPlan p;
  p.chunk = chunk ? chunk : choose_chunk_size(size, bytes);
  p.method = effective_method(method ? *method : choose_method(size, bytes, p.chunk), size);
  if (!chunk)
    p.chunk = fit_chunk(p.method, size, p.chunk);
  p.depth = pipeline_depth(p.method, size);
  return p;
}

int pipeline_depth(const Method& m, int size) {
  if (effective_method(m, size).kind != Method::two_tree)
    return 3;
  return std::max(3, 1 + in_order_levels(1, size - 1));
}

uint64_t fit_chunk(const Method& m, int size, uint64_t chunk, uint64_t budget) {
  constexpr uint64_t step = 64 << 10;
  const uint64_t buffers =
      static_cast<uint64_t>(m.kind == Method::two_tree ? 2 : 1) * pipeline_depth(m, size);
  const uint64_t most = std::max(step, budget / buffers / step * step);
  return std::min(chunk, most);
}

} // namespace distenv::transport
