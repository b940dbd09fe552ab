// The transport's platform under SMPI: every chunk buffer is the same shared
// memory (SMPI_SHARED_MALLOC: payload is not moved), time is simulated time.
#include <distenv/transport/chunk_buffer.hpp>

#include <mpi.h>
#include <smpi/smpi.h>

namespace distenv::transport {

std::byte* allocate_chunk(size_t size) {
  return static_cast<std::byte*>(SMPI_SHARED_MALLOC(size));
}
void free_chunk(std::byte* buffer, size_t) {
  SMPI_SHARED_FREE(buffer);
}
double monotonic_seconds() {
  return MPI_Wtime();
}
void pause_for(long nanoseconds) {
  smpi_usleep(static_cast<useconds_t>(nanoseconds / 1000 > 0 ? nanoseconds / 1000 : 1));
}

bool waits_block() {
  return true;
}

} // namespace distenv::transport
