#pragma once

#include <distenv/pack/chunk_stream.hpp>

#include <cstddef>
#include <vector>

namespace distenv::test {

// Chunks kept in memory: a packed stream that a test can read back, count,
// and damage.
class MemoryChunks : public pack::ChunkSink, public pack::ChunkSource {
public:
  void put(pack::Bytes chunk) override { m_chunks.emplace_back(chunk.begin(), chunk.end()); }
  pack::Bytes next() override {
    if (m_next >= m_chunks.size())
      return {};
    const auto& c = m_chunks[m_next++];
    return pack::Bytes(c.data(), c.size());
  }
  size_t count() const { return m_chunks.size(); }
  void rewind() { m_next = 0; } // read from the first chunk again
  std::vector<std::vector<std::byte>>& chunks() { return m_chunks; }

private:
  std::vector<std::vector<std::byte>> m_chunks;
  size_t m_next = 0;
};

} // namespace distenv::test
