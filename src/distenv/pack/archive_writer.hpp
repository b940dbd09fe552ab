#pragma once

#include <distenv/layout/layout.hpp>
#include <distenv/pack/chunks.hpp>
#include <distenv/pack/pipe.hpp>

#include <functional>

namespace distenv::pack {

using hash::EntryType;

struct PackOptions {
  size_t chunk_size = 1 << 20;
  int zstd_level = 3;
  int zstd_threads = 0; // 0: zstd's single-threaded mode
  // The level (and threads) follow the slower side of the stream, as
  // `zstd --adapt` does: `pressure` says how long the packer and the network
  // have waited for each other so far (the pipe between them), looked at
  // every few MiB; between levels 1 and 9.
  bool adapt = false;
  std::function<ChunkPipe::Waits()> pressure;
  // The per-file delta: false for a content every receiver holds already.
  // Such a file travels as a reference (its hash and size, no data) that
  // the receiver fills from its local copy. Unset: every content is sent.
  std::function<bool(const hash::Hash128&)> send;
  // Only the contents to send, each once, as file entries at the first path
  // that holds it: no directories, symlinks or references. The receivers
  // make the tree from its listing (install/assemble.hpp).
  bool contents_only = false;
  // Content bytes packed so far, after each file (on the packing thread).
  std::function<void(uint64_t)> progress;
};

// The xattr that marks a file sent by reference: 16 bytes of content hash
// and 8 of size (little end first).
inline constexpr const char* k_local_xattr = "distenv.local";
// The xattr that marks a file distenv.toml calls `mutable` (empty value):
// installed as a private, writable copy.
inline constexpr const char* k_mutable_xattr = "distenv.mutable";

struct PackStats {
  uint64_t archive_bytes = 0; // compressed bytes handed to the sink
  uint64_t entries = 0;
  uint64_t content_bytes = 0;                          // sent with their data
  uint64_t referenced_files = 0, referenced_bytes = 0; // sent by reference
  std::string levels;                                  // the zstd levels used, in order ("3 -> 2 -> 1")
};

// Streams the tree as tar (pax) + zstd into `sink` in fixed-size chunks,
// reading each file once in blocks; memory stays bounded by the chunk size
// and zstd's window, whatever the tree's size. A file that no longer matches
// its planned hash (edited while packing) is an Error.
PackStats pack_tree(const layout::Tree& tree, ChunkSink& sink, const PackOptions& options);

} // namespace distenv::pack
