#pragma once

#include <distenv/transport/comm.hpp>

#include <array>
#include <cstddef>
#include <memory>

namespace distenv::cluster {

// While a long phase runs (once-per-machine commands, workers), a rank whose
// part fails tells every other rank at once, so that they stop their own
// part instead of finishing it first: a failure ends the job within seconds,
// not when the longest worker ends. Every rank of `comm` makes one at the
// start of the phase; after the phase's agreement, in which each rank says
// whether it sent notices, settle() takes in every notice that was sent, so
// none is left over for a later phase.
class StopNotices {
public:
  explicit StopNotices(transport::Comm& comm);
  ~StopNotices();
  StopNotices(const StopNotices&) = delete;
  StopNotices& operator=(const StopNotices&) = delete;

  // A peer failed: stop now. Cheap; meant to be polled.
  bool requested();
  // This rank failed: tell every other rank (once).
  void send();
  bool sent() const { return m_sent; }
  // After the agreement: `senders` other ranks sent notices.
  void settle(int senders);

private:
  transport::Comm& m_comm;
  std::array<std::byte, 4> m_buffer{};
  std::unique_ptr<transport::Request> m_pending;
  bool m_requested = false;
  bool m_sent = false;
};

} // namespace distenv::cluster
