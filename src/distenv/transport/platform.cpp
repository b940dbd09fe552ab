// The transport's platform of a real run: heap chunk buffers (not zeroed),
// the steady clock, nanosleep.
#include <distenv/transport/chunk_buffer.hpp>

#include <chrono>
#include <ctime>

namespace distenv::transport {

std::byte* allocate_chunk(size_t size) {
  return new std::byte[size];
}
void free_chunk(std::byte* buffer, size_t) {
  delete[] buffer;
}

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void pause_for(long nanoseconds) {
  const struct timespec t { 0, nanoseconds };
  ::nanosleep(&t, nullptr);
}

bool waits_block() {
  return false;
}

} // namespace distenv::transport
