#pragma once

#include <cstddef>

namespace distenv::transport {

// What the transport takes from the platform it runs on, as a link-time
// seam: platform.cpp for real runs; scripts/smpi links its own, so that a
// simulation of thousands of ranks shares one payload buffer among all of
// them (SMPI_SHARED_MALLOC) and waits in simulated time.
//
// Where the broadcast's chunk buffers come from.
std::byte* allocate_chunk(size_t size);
void free_chunk(std::byte* buffer, size_t size);
// A clock for how long a wait has lasted, and a pause (< 1 s) between polls.
double monotonic_seconds();
void pause_for(long nanoseconds);
// Whether waits block in the library instead of polling (a simulation,
// where polling only costs simulated time and makes the simulation slow).
bool waits_block();

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
