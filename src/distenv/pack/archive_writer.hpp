#pragma once

#include <distenv/layout/layout.hpp>
#include <distenv/pack/chunks.hpp>

namespace distenv::pack {

using hash::EntryType;

struct PackOptions {
  size_t chunk_size = 1 << 20;
  int zstd_level = 3;
  int zstd_threads = 0; // 0: zstd's single-threaded mode
};

struct PackStats {
  uint64_t archive_bytes = 0; // compressed bytes handed to the sink
  uint64_t entries = 0;
  uint64_t content_bytes = 0;
};

// Streams the tree as tar (pax) + zstd into `sink` in fixed-size chunks,
// reading each file once in blocks; memory stays bounded by the chunk size
// and zstd's window, whatever the tree's size. A file that no longer matches
// its planned hash (edited while packing) is an Error.
PackStats pack_tree(const layout::Tree& tree, ChunkSink& sink, const PackOptions& options);

} // namespace distenv::pack
