#pragma once

#include <cstddef>

namespace distenv::transport {

// Where the broadcast's chunk buffers come from: a link-time seam, so that a
// simulation of thousands of ranks (scripts/smpi) can give every rank the
// same shared memory instead of real payload (chunk_buffer.cpp: new/delete).
std::byte* allocate_chunk(size_t size);
void free_chunk(std::byte* buffer, size_t size);

// One chunk buffer, owned.
class ChunkBuffer {
public:
  explicit ChunkBuffer(size_t size) : m_data(allocate_chunk(size)), m_size(size) {}
  ~ChunkBuffer() {
    if (m_data)
      free_chunk(m_data, m_size);
  }
  ChunkBuffer(ChunkBuffer&& o) noexcept : m_data(o.m_data), m_size(o.m_size) { o.m_data = nullptr; }
  ChunkBuffer(const ChunkBuffer&) = delete;
  ChunkBuffer& operator=(const ChunkBuffer&) = delete;
  ChunkBuffer& operator=(ChunkBuffer&&) = delete;

  std::byte* data() const { return m_data; }
  size_t size() const { return m_size; }
  // Gives the memory up (not freed): for buffers a transport may still read.
  void leak() { m_data = nullptr; }

private:
  std::byte* m_data;
  size_t m_size;
};

} // namespace distenv::transport
