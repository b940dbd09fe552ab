#pragma once

#include <distenv/pack/chunk_stream.hpp>
#include <distenv/util/atomic_file.hpp>
#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

#include <cstddef>
#include <cstdint>
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

// A packed stream in a file (--pack-to / --install-from). The sink writes a
// temporary sibling and renames it on close(): a stream that fails leaves
// nothing at `path`.
class FileChunkSink : public ChunkSink {
public:
  explicit FileChunkSink(const boost::filesystem::path& path) : m_file(path) {}
  void put(Bytes chunk) override { m_file.write(chunk.data(), chunk.size()); }
  void close() override { m_file.commit(); }

private:
  AtomicFile m_file;
};

class FileChunkSource : public ChunkSource {
public:
  FileChunkSource(const boost::filesystem::path& path, size_t chunk_size);
  Bytes next() override;

private:
  boost::filesystem::path m_path;
  Fd m_fd;
  std::vector<std::byte> m_buffer;
};

} // namespace distenv::pack
