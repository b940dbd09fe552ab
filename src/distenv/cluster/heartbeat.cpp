// Heartbeats: a rank that stops answering ends the job, named.
#include <distenv/cluster/heartbeat.hpp>

#include <distenv/transport/chunk_buffer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <pthread.h>

namespace distenv::cluster {

namespace {

constexpr int k_tag_beat = 0x6420;
// Sends keep pointing at these until they complete (a send request that is
// let go still reads its buffer).
constexpr std::array<std::byte, 1> k_beat{std::byte{'b'}};
constexpr std::array<std::byte, 1> k_goodbye{std::byte{'g'}};

} // namespace

Heartbeats::Heartbeats(std::unique_ptr<transport::Comm> comm, double timeout_seconds, double now)
    : m_comm(std::move(comm)), m_timeout(timeout_seconds),
      m_interval(std::clamp(timeout_seconds / 10, 0.05, 1.0)), m_next_beat(now),
      m_last(static_cast<size_t>(m_comm->size()), now) {
  const int me = m_comm->rank();
  for (int r = 0; r < m_comm->size(); ++r)
    if (r != me && (me == 0 || r == 0)) {
      m_peers.emplace_back();
      m_peers.back().rank = r;
    }
  for (Peer& p : m_peers)
    post_receive(static_cast<int>(&p - m_peers.data()));
}

Heartbeats::~Heartbeats() {
  m_peers.clear(); // receives still waiting are cancelled
  m_sends.clear(); // sends still in flight are let go (their buffers are static)
}

void Heartbeats::post_receive(int peer) {
  Peer& p = m_peers[static_cast<size_t>(peer)];
  p.pending = m_comm->irecv(p.rank, k_tag_beat, p.buffer);
}

void Heartbeats::send_beats(std::byte kind) {
  // A peer that does not take its beats (stopped) must not make this rank
  // hold an ever longer list: sends complete on their own (small messages
  // are buffered), and those that do not are let go when the list is long.
  std::erase_if(m_sends, [](const auto& s) { return s->test(); });
  if (m_sends.size() > 8 * m_peers.size() + 8)
    m_sends.clear();
  for (const Peer& p : m_peers)
    if (!p.gone)
      m_sends.push_back(m_comm->isend(p.rank, k_tag_beat, kind == k_beat[0] ? k_beat : k_goodbye));
}

std::vector<int> Heartbeats::poll(double now) {
  if (!m_said_goodbye && now >= m_next_beat) {
    send_beats(k_beat[0]);
    m_next_beat = now + m_interval;
  }
  std::vector<int> silent;
  for (size_t i = 0; i < m_peers.size(); ++i) {
    Peer& p = m_peers[i];
    while (!p.gone && p.pending->test()) {
      m_last[static_cast<size_t>(p.rank)] = now;
      if (p.buffer[0] == k_goodbye[0]) {
        p.gone = true;
        p.pending.reset();
      } else {
        post_receive(static_cast<int>(i));
      }
    }
    if (!p.gone && now - m_last[static_cast<size_t>(p.rank)] > m_timeout)
      silent.push_back(p.rank);
  }
  return silent;
}

void Heartbeats::goodbye() {
  if (m_said_goodbye)
    return;
  m_said_goodbye = true;
  send_beats(k_goodbye[0]);
}

HeartbeatThread::HeartbeatThread(std::unique_ptr<transport::Comm> comm, double timeout_seconds,
                                 OnSilent on_silent)
    : m_beats(std::move(comm), timeout_seconds, transport::monotonic_seconds()),
      m_on_silent(std::move(on_silent)), m_thread([this] { loop(); }) {}

HeartbeatThread::~HeartbeatThread() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  m_thread.join();
  try {
    m_beats.goodbye();
  } catch (...) { // the transport is failing: the job is ending anyway
  }
}

void HeartbeatThread::loop() {
  // Signals are the main thread's (the supervisor's handlers).
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock<std::mutex> lock(m_mutex);
  while (!m_stop) {
    std::vector<int> silent;
    double now = 0;
    try {
      now = transport::monotonic_seconds();
      silent = m_beats.poll(now);
    } catch (...) { // the transport failed: the main thread sees that too
      return;
    }
    if (!silent.empty()) {
      double since = now;
      for (int r : silent)
        since = std::min(since, m_beats.last_heard(r));
      lock.unlock();
      try {
        m_on_silent(silent, now - since);
      } catch (...) { // an abort that returns by throwing (tests): the job is ending
      }
      return;
    }
    m_wake.wait_for(lock, std::chrono::duration<double>(m_beats.interval()));
  }
}

std::string silence_line(int rank, const std::vector<int>& silent, double seconds, double timeout,
                         const std::vector<std::string>& host_of_rank) {
  auto host = [&](int r) {
    return r >= 0 && static_cast<size_t>(r) < host_of_rank.size() ? host_of_rank[static_cast<size_t>(r)]
                                                                  : fmt::format("rank {}", r);
  };
  const std::string why = fmt::format(
      "its distenv-bootstrap is stopped or hung, or the network to it is cut; --heartbeat-timeout {:g}",
      timeout);
  if (rank == 0) {
    std::vector<std::string> names;
    for (int r : silent)
      if (std::find(names.begin(), names.end(), host(r)) == names.end())
        names.push_back(host(r));
    std::string list;
    for (const std::string& n : names)
      list += (list.empty() ? "" : ", ") + n;
    return fmt::format("{}: no heartbeat for {:.0f} s ({})", list, seconds, why);
  }
  if (rank == 1)
    return fmt::format("{}: no heartbeat for {:.0f} s, as seen from {} ({})", host(0), seconds, host(1), why);
  return "";
}

} // namespace distenv::cluster
