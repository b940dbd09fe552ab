// Chunk buffers of a real run: plain heap memory, not zeroed.
#include <distenv/transport/chunk_buffer.hpp>

namespace distenv::transport {

std::byte* allocate_chunk(size_t size) { return new std::byte[size]; }
void free_chunk(std::byte* buffer, size_t) { delete[] buffer; }

} // namespace distenv::transport
