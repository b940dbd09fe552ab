// What every Comm shares: waiting on requests without spinning.
#include <distenv/transport/comm.hpp>

#include <distenv/transport/chunk_buffer.hpp>

#include <algorithm>

namespace distenv::transport {

size_t poll_any(const std::vector<Request*>& requests) {
  if (requests.empty())
    throw CommError("wait_any: no request to wait for");
  const double start = monotonic_seconds();
  long pause_ns = 0;
  for (;;) {
    for (size_t i = 0; i < requests.size(); ++i)
      if (requests[i]->test())
        return i;
    if (monotonic_seconds() - start < 1e-3)
      continue;
    pause_ns = std::min(std::max(pause_ns * 2, 10'000L), 100'000L);
    pause_for(pause_ns);
  }
}

} // namespace distenv::transport
