// Signals to single workers, asked for on rank 0 and relayed to their rank.
#include <distenv/cluster/worker_signals.hpp>

#include <distenv/transport/codec.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <sstream>
#include <string.h>

namespace distenv::cluster {

namespace {

constexpr int k_tag_signal = 0x6411;

bool to_int(std::string_view text, int& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

int signal_number(std::string_view name) {
  int number = 0;
  if (to_int(name, number))
    return number > 0 && number < NSIG ? number : 0;
  if (name.starts_with("SIG"))
    name.remove_prefix(3);
  for (int s = 1; s < NSIG; ++s)
    if (const char* abbrev = ::sigabbrev_np(s); abbrev && name == abbrev)
      return s;
  return 0;
}

std::array<std::byte, 8> pack(int index, int signal) {
  std::array<std::byte, 8> bytes{};
  std::memcpy(bytes.data(), &index, 4);
  std::memcpy(bytes.data() + 4, &signal, 4);
  return bytes;
}

std::pair<size_t, int> unpack(const std::array<std::byte, 8>& bytes) {
  int index = 0, signal = 0;
  std::memcpy(&index, bytes.data(), 4);
  std::memcpy(&signal, bytes.data() + 4, 4);
  return {static_cast<size_t>(index), signal};
}

} // namespace

SignalRequest parse_signal_line(std::string_view line) {
  std::istringstream words{std::string(line)};
  std::string verb, id, sig, extra;
  words >> verb >> id >> sig >> extra;
  if (verb != "signal" || sig.empty() || !extra.empty())
    throw Error("expected 'signal WORKER SIGNAL'");
  SignalRequest r;
  if (!to_int(id, r.worker) || r.worker < 0)
    throw Error(fmt::format("'{}' is not a worker id", id));
  r.signal = signal_number(sig);
  if (r.signal == 0)
    throw Error(fmt::format("'{}' is not a signal", sig));
  return r;
}

WorkerSignals::WorkerSignals(transport::Comm& comm, std::vector<int> counts, int control_fd,
                             std::ostream& warnings)
    : m_comm(comm), m_counts(std::move(counts)), m_control_fd(comm.rank() == 0 ? control_fd : -1),
      m_warnings(warnings), m_sent(m_counts.size(), 0) {
  if (comm.rank() != 0)
    post();
}

WorkerSignals::~WorkerSignals() {
  if (m_pending)
    m_pending->cancel();
}

void WorkerSignals::post() {
  m_pending = m_comm.irecv(0, k_tag_signal, m_buffer);
}

std::vector<std::pair<size_t, int>> WorkerSignals::take() {
  std::vector<std::pair<size_t, int>> mine;
  if (m_comm.rank() == 0) {
    read_control(mine);
    return mine;
  }
  while (m_pending && m_pending->test()) {
    mine.push_back(unpack(m_buffer));
    ++m_received;
    post();
  }
  return mine;
}

void WorkerSignals::read_control(std::vector<std::pair<size_t, int>>& mine) {
  while (m_control_fd >= 0) {
    pollfd p{m_control_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
      return;
    char buf[4096];
    const ssize_t n = read_some(m_control_fd, buf, sizeof buf);
    if (n <= 0) { // the front end closed it: nothing more will come
      m_control_fd = -1;
      return;
    }
    m_partial.append(buf, static_cast<size_t>(n));
    for (size_t end; (end = m_partial.find('\n')) != std::string::npos;) {
      const std::string line = m_partial.substr(0, end);
      m_partial.erase(0, end + 1);
      route(line, mine);
    }
  }
}

void WorkerSignals::route(const std::string& line, std::vector<std::pair<size_t, int>>& mine) {
  try {
    const SignalRequest r = parse_signal_line(line);
    int first = 0;
    for (size_t rank = 0; rank < m_counts.size(); first += m_counts[rank++]) {
      if (r.worker >= first + m_counts[rank])
        continue;
      const size_t index = static_cast<size_t>(r.worker - first);
      if (rank == 0) {
        mine.emplace_back(index, r.signal);
      } else {
        m_send_buffers.push_back(pack(static_cast<int>(index), r.signal));
        m_sends.push_back(m_comm.isend(static_cast<int>(rank), k_tag_signal, m_send_buffers.back()));
        ++m_sent[rank];
      }
      return;
    }
    throw Error(fmt::format("no worker {} in this job ({} workers)", r.worker, first));
  } catch (const Error& e) {
    m_warnings << fmt::format("distenv: warning: control line '{}' ignored: {}\n", line, e.what());
  }
}

void WorkerSignals::settle() {
  const std::vector<int> sent = transport::broadcast_value(m_comm, m_sent, 0);
  if (m_comm.rank() == 0) {
    for (auto& s : m_sends)
      s->wait();
    return;
  }
  const int expected = sent[static_cast<size_t>(m_comm.rank())];
  for (; m_received < expected; ++m_received) { // arrived after this rank's workers ended
    m_pending->wait();
    post();
  }
  m_pending->cancel();
  m_pending.reset();
}

} // namespace distenv::cluster
