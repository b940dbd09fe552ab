#pragma once

#include <exception>
#include <utility>

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

// A source that has already failed: a sender's way of telling the
// receivers to abort when it cannot even start packing.
class FailedSource : public ChunkSource {
public:
  explicit FailedSource(std::exception_ptr failure) : m_failure(std::move(failure)) {}
  Bytes next() override { std::rethrow_exception(m_failure); }

private:
  std::exception_ptr m_failure;
};

} // namespace distenv::pack
