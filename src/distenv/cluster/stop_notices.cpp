// Stop notices: a failing rank stops the others' long phases.
#include <distenv/cluster/stop_notices.hpp>

#include <vector>

namespace distenv::cluster {

namespace {
constexpr int k_tag_stop = 0x6410;
}

StopNotices::StopNotices(transport::Comm& comm)
    : m_comm(comm), m_pending(comm.irecv(transport::Comm::k_any, k_tag_stop, m_buffer)) {}

StopNotices::~StopNotices() {
  if (m_pending)
    m_pending->cancel();
}

bool StopNotices::requested() {
  if (!m_requested && m_pending)
    m_requested = m_pending->test();
  return m_requested;
}

void StopNotices::send() {
  if (m_sent)
    return;
  m_sent = true;
  const std::array<std::byte, 4> notice{};
  std::vector<std::unique_ptr<transport::Request>> sends;
  for (int r = 0; r < m_comm.size(); ++r)
    if (r != m_comm.rank())
      sends.push_back(m_comm.isend(r, k_tag_stop, notice));
  for (auto& s : sends)
    s->wait();
}

void StopNotices::settle(int senders) {
  if (senders == 0) {
    m_pending->cancel();
  } else {
    m_pending->wait();
    for (int i = 1; i < senders; ++i)
      m_comm.recv(transport::Comm::k_any, k_tag_stop, m_buffer);
  }
  m_pending.reset();
}

} // namespace distenv::cluster
