// Phase agreement: all ranks learn every rank's outcome.
#include <distenv/cluster/agreement.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace distenv::cluster {

namespace {

// What a rank says at a phase boundary, as bytes: its exit code (4 bytes,
// little end first) and either its failure ("host: message") or its data.
// One more byte says whether the rank sent stop notices.
struct Reply {
  int exit_code = 0;
  std::string text;
  bool notified = false;
};

std::string encode(const Reply& r) {
  std::string out(5, '\0');
  for (int i = 0; i < 4; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((static_cast<unsigned>(r.exit_code) >> (8 * i)) & 0xff);
  out[4] = r.notified ? 1 : 0;
  return out + r.text;
}

Reply decode(const std::string& bytes) {
  if (bytes.size() < 5)
    throw transport::CommError("malformed phase reply from a peer");
  unsigned code = 0;
  for (int i = 0; i < 4; ++i)
    code |= static_cast<unsigned>(static_cast<unsigned char>(bytes[static_cast<size_t>(i)])) << (8 * i);
  return {static_cast<int>(code), bytes.substr(5), bytes[4] != 0};
}

std::vector<Reply> exchange(transport::Comm& comm, const Reply& mine) {
  std::vector<Reply> all;
  for (const std::string& bytes : comm.all_gather(encode(mine)))
    all.push_back(decode(bytes));
  return all;
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

void Agreement::phase(const std::function<void()>& step) { agree(attempt(step)); }

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
