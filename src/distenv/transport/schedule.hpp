#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distenv::transport {

// Who a rank receives the stream from and forwards it to, in one tree of a
// pipelined broadcast. Plain data, so a schedule can be tested (and
// simulated) without MPI. See docs/broadcast.md for the cost model.
struct Links {
  int parent = -1; // -1 on the root
  std::vector<int> children;
};

// A pipelined k-ary tree rooted at `root` over `size` ranks: k = 1 is a
// chain, k = 2 a binary tree.
Links tree_links(int rank, int size, int root, int fanout);

// The two trees of a two-tree broadcast (Sanders, Speck, Traeff 2009) from
// `root` over the other size-1 ranks: two binary trees whose interior ranks
// are disjoint, so every rank forwards (to at most two children) in one tree
// only, and receives half the stream in each. `root` feeds both trees' roots.
std::vector<Links> two_tree_links(int rank, int size, int root);

// How the stream travels.
struct Method {
  enum Kind { tree, two_tree, mpi } kind = tree;
  int fanout = 1; // tree: 1 chain, 2 binary, k k-ary

  static Method chain() { return {tree, 1}; }
  static Method binary_tree() { return {tree, 2}; }
  static Method twotree() { return {two_tree, 2}; }
  static Method mpi_bcast() { return {mpi, 0}; }
  bool operator==(const Method& o) const { return kind == o.kind && (kind != tree || fanout == o.fanout); }
};

// "chain", "tree" (binary), "twotree", "mpi" or a tree's fan-out, as
// --broadcast takes it; none when it is none of these.
std::optional<Method> parse_method(const std::string& text);

// "chain" / "binary tree" / "4-ary tree" / "two-tree" / "mpi", for reports.
std::string method_name(const Method& m);

// What a rank does in `m` over `size` ranks from `root`: chunk k travels
// tree k % trees.size(). Empty for `mpi` (the library's collective decides).
std::vector<Links> schedule(const Method& m, int rank, int size, int root);

// The cost model (docs/broadcast.md): predicted seconds to broadcast `bytes`
// in chunks of `chunk` from one rank to size-1 others over links of
// `bandwidth` bytes/s and `latency` s each way. Not for `mpi`.
double predicted_seconds(const Method& m, int size, uint64_t bytes, uint64_t chunk, double bandwidth,
                         double latency);

// The method the model predicts fastest among chain, binary tree and
// two-tree (bandwidth cancels out: every term is bytes over the same links).
Method choose_method(int size, uint64_t bytes, uint64_t chunk);

// A chunk size for `size` ranks and a stream of about `bytes`: the pipeline's
// fill costs two chunks per level of the two-tree, so the chunk is kept near
// a twentieth of the stream over log2(size): the fill is then about a tenth
// of S/B (at least 64 KiB, so per-message costs stay small; at most 4 MiB,
// so memory stays small).
uint64_t choose_chunk_size(int size, uint64_t bytes);

// Chunk buffers per tree for `m` over `size` ranks: 3 for one tree; for the
// two-tree, one per level (a rank's two parents are at different depths, so
// one tree's chunks wait for the other's: fewer buffers stall the stream).
int pipeline_depth(const Method& m, int size);

// `m` as it runs over `size` ranks: a two-tree with one receiver is the
// chain (both trees would be the one link, and one parent could not be told
// apart by its two streams). The one place this rule is written.
Method effective_method(const Method& m, int size);

// How one stream travels, decided once by the sending rank and told to the
// group: the method, the chunk size and the chunk buffers per tree.
struct BroadcastPlan {
  Method method = Method::chain();
  uint64_t chunk = uint64_t(1) << 20;
  int depth = 3;
};
NLOHMANN_JSON_SERIALIZE_ENUM(Method::Kind,
                             {{Method::tree, "tree"}, {Method::two_tree, "two_tree"}, {Method::mpi, "mpi"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Method, kind, fanout)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BroadcastPlan, method, chunk, depth)

// The plan for `size` ranks and a stream of about `bytes`: `method` (when
// given) or the model's choice, `chunk` (when not 0) or choose_chunk_size
// fitted to the memory budget, the effective method's pipeline depth.
BroadcastPlan plan_broadcast(int size, uint64_t bytes, std::optional<Method> method, uint64_t chunk);

// `chunk` made small enough that the stream's buffers (trees x depth chunks
// per rank) stay within `budget` bytes, in multiples of 64 KiB.
uint64_t fit_chunk(const Method& m, int size, uint64_t chunk, uint64_t budget = 48 << 20);

} // namespace distenv::transport
