#pragma once

#include <cstddef>
#include <span>

namespace distenv::pack {

using Bytes = std::span<const std::byte>;

// Where a packed stream goes: one call per chunk, every chunk `chunk_size`
// bytes but the last. The broadcast is one; a file and memory are others.
class ChunkSink {
public:
  virtual ~ChunkSink() = default;
  virtual void put(Bytes chunk) = 0;
  // No more chunks follow.
  virtual void close() {}
};

// Where a packed stream comes from: next() returns the next chunk (valid until
// the following call), an empty span at the end.
class ChunkSource {
public:
  virtual ~ChunkSource() = default;
  virtual Bytes next() = 0;
};

} // namespace distenv::pack
