// What every Comm shares: waiting on requests without spinning.
#include <distenv/transport/comm.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace distenv::transport {

size_t poll_any(const std::vector<Request*>& requests) {
  if (requests.empty())
    throw CommError("wait_any: no request to wait for");
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  long pause_ns = 0;
  for (;;) {
    for (size_t i = 0; i < requests.size(); ++i)
      if (requests[i]->test())
        return i;
    if (clock::now() - start < std::chrono::microseconds(200))
      continue;
    pause_ns = std::min(std::max(pause_ns * 2, 10'000L), 100'000L);
    const struct timespec pause {0, pause_ns};
    ::nanosleep(&pause, nullptr);
  }
}

} // namespace distenv::transport
