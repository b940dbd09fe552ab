// Phase agreement: all ranks learn every rank's outcome.
#include <distenv/cluster/agreement.hpp>

#include <distenv/transport/codec.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace distenv::cluster {

namespace {

// What a rank says at a phase boundary: its exit code, either its failure
// ("host: message") or its data, and whether it sent stop notices.
struct Reply {
  int exit_code = 0;
  std::string text;
  bool notified = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Reply, exit_code, text, notified)

std::vector<Reply> exchange(transport::Comm& comm, const Reply& mine) {
  return transport::all_gather_values(comm, mine);
}

[[noreturn]] void fail(const std::vector<Reply>& replies) {
  std::vector<std::string> lines;
  int exit_code = 0;
  for (const Reply& r : replies) {
    if (r.exit_code == 0)
      continue;
    if (exit_code == 0)
      exit_code = r.exit_code;
    if (std::find(lines.begin(), lines.end(), r.text) == lines.end())
      lines.push_back(r.text); // two ranks of one machine saying the same
  }
  throw PhaseFailed(std::move(lines), exit_code);
}

} // namespace

Outcome attempt(const std::function<void()>& step) {
  try {
    step();
    return {};
  } catch (const transport::CommError&) {
    throw;
  } catch (const Error& e) {
    return {e.exit_code() ? e.exit_code() : 1, e.what()};
  } catch (const std::exception& e) {
    return {1, e.what()};
  }
}

void Agreement::agree(const Outcome& mine) {
  // Cheap when everyone is fine: one reduction of "did anyone fail".
  if (!m_comm.all_max(mine.exit_code != 0 ? 1 : 0))
    return;
  const Reply reply{mine.exit_code, mine.exit_code ? fmt::format("{}: {}", m_host, mine.message) : ""};
  fail(exchange(m_comm, reply));
}

void Agreement::phase(const std::function<void()>& step) {
  agree(attempt(step));
}

std::string Agreement::broadcast(int root, const std::function<std::string()>& step) {
  std::string data;
  agree(attempt([&] { data = step(); }));
  return m_comm.broadcast(data, root);
}

std::vector<std::string> Agreement::gather(int root, const std::function<std::string()>& step) {
  std::string data;
  agree(attempt([&] { data = step(); }));
  return m_comm.gather(data, root);
}

std::vector<std::string> Agreement::all_gather(const std::function<std::string()>& step) {
  std::string data;
  const Outcome o = attempt([&] { data = step(); });
  const Reply reply{o.exit_code, o.exit_code ? fmt::format("{}: {}", m_host, o.message) : std::move(data)};
  std::vector<Reply> replies = exchange(m_comm, reply);
  if (std::any_of(replies.begin(), replies.end(), [](const Reply& r) { return r.exit_code != 0; }))
    fail(replies);
  std::vector<std::string> out;
  for (Reply& r : replies)
    out.push_back(std::move(r.text));
  return out;
}

std::vector<std::string> Agreement::stoppable_gather(int root,
                                                     const std::function<std::string(StopNotices&)>& step) {
  StopNotices notices(m_comm);
  std::string data;
  const Outcome o = attempt([&] { data = step(notices); });
  if (o.exit_code)
    notices.send();
  const Reply reply{o.exit_code, o.exit_code ? fmt::format("{}: {}", m_host, o.message) : "", notices.sent()};
  const std::vector<Reply> replies = exchange(m_comm, reply);
  int senders = 0;
  for (size_t r = 0; r < replies.size(); ++r)
    senders += replies[r].notified && static_cast<int>(r) != m_comm.rank();
  notices.settle(senders);
  if (std::any_of(replies.begin(), replies.end(), [](const Reply& r) { return r.exit_code != 0; }))
    fail(replies);
  return m_comm.gather(data, root);
}

} // namespace distenv::cluster
