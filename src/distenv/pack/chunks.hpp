#pragma once

#include <distenv/pack/chunk_stream.hpp>

#include <boost/filesystem/path.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace distenv::pack {

// Cuts an arbitrary byte stream into fixed-size chunks for a ChunkSink.
// Holds at most one chunk.
class Chunker {
public:
  Chunker(ChunkSink& sink, size_t chunk_size);
  void write(const void* data, size_t size);
  void finish();
  uint64_t bytes() const { return m_bytes; }

private:
  ChunkSink& m_sink;
  std::vector<std::byte> m_buffer;
  size_t m_used = 0;
  uint64_t m_bytes = 0;
};

// Chunks kept in memory (tests, and the in-process fake transport).
class MemoryChunks : public ChunkSink, public ChunkSource {
public:
  void put(Bytes chunk) override;
  Bytes next() override;
  size_t count() const { return m_chunks.size(); }
  std::vector<std::vector<std::byte>>& chunks() { return m_chunks; }

private:
  std::vector<std::vector<std::byte>> m_chunks;
  size_t m_next = 0;
};

// A packed stream in a file (--pack-to / --install-from). The sink writes a
// temporary sibling and renames it on close(): a stream that fails leaves
// nothing at `path`.
class FileChunkSink : public ChunkSink {
public:
  explicit FileChunkSink(const boost::filesystem::path& path);
  ~FileChunkSink() override;
  void put(Bytes chunk) override;
  void close() override;

private:
  boost::filesystem::path m_path, m_temp;
  int m_fd = -1;
};

class FileChunkSource : public ChunkSource {
public:
  FileChunkSource(const boost::filesystem::path& path, size_t chunk_size);
  ~FileChunkSource() override;
  Bytes next() override;

private:
  boost::filesystem::path m_path;
  int m_fd = -1;
  std::vector<std::byte> m_buffer;
};

} // namespace distenv::pack
