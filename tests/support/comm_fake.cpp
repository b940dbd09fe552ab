// The Comm seam in one process: ranks are threads (tests of the job's logic).
#include "support/comm_fake.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

namespace distenv::transport {

struct FakeNetwork::Shared {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int> machine_of_rank;                             // by world rank
  std::vector<bool> left;                                       // by world rank
  std::string aborted;                                          // why, when the job was aborted
  std::map<int, std::function<void(int, std::string&)>> tamper; // by destination world rank
  size_t waits_on_done = 0; // wait_any given a request its caller knew was done
};

namespace {

using Lock = std::unique_lock<std::mutex>;

struct Group : std::enable_shared_from_this<Group> {
  std::shared_ptr<FakeNetwork::Shared> net;
  std::vector<int> members; // world rank of each group rank

  struct Round {
    std::string kind;
    std::string error; // ranks disagreed on the collective
    std::vector<std::optional<std::string>> parts;
    std::map<int, std::shared_ptr<Group>> children; // split: new group by color
    int taken = 0;
  };
  std::map<uint64_t, Round> rounds;

  struct Message {
    int source, tag;
    std::string bytes;
  };
  std::vector<std::deque<Message>> mailbox; // by group rank

  Group(std::shared_ptr<FakeNetwork::Shared> n, std::vector<int> m)
      : net(std::move(n)), members(std::move(m)), mailbox(members.size()) {}

  int size() const { return static_cast<int>(members.size()); }
  bool has_left(int rank) const { return net->left[static_cast<size_t>(members[static_cast<size_t>(rank)])]; }

  // Waits (lock held) until ready() or a reason it never will be.
  template <typename Ready, typename Blocked> void wait(Lock& lock, Ready ready, Blocked blocked) {
    for (;;) {
      if (!net->aborted.empty())
        throw CommError("the job was aborted: " + net->aborted);
      if (ready())
        return;
      if (std::string why = blocked(); !why.empty())
        throw CommError(why);
      net->changed.wait(lock);
    }
  }

  // Finds (and removes) the first message for `rank` that matches.
  std::optional<Message> take_message(int rank, int source, int tag) {
    auto& box = mailbox[static_cast<size_t>(rank)];
    for (auto it = box.begin(); it != box.end(); ++it)
      if ((source == Comm::k_any || it->source == source) && (tag == Comm::k_any || it->tag == tag)) {
        Message m = std::move(*it);
        box.erase(it);
        return m;
      }
    return std::nullopt;
  }

  bool has_message(int rank, int source, int tag) const {
    for (const Message& m : mailbox[static_cast<size_t>(rank)])
      if ((source == Comm::k_any || m.source == source) && (tag == Comm::k_any || m.tag == tag))
        return true;
    return false;
  }

  std::string sender_gone(int rank, int source) const {
    if (source != Comm::k_any)
      return has_left(source)
                 ? fmt::format("rank {} left the job while rank {} waited for its message", source, rank)
                 : "";
    for (int r = 0; r < size(); ++r)
      if (r != rank && !has_left(r))
        return "";
    return fmt::format("every other rank left the job while rank {} waited for a message", rank);
  }
};

Received copy_out(const Group::Message& m, MutableBytes buffer) {
  if (m.bytes.size() > buffer.size())
    throw CommError(fmt::format("message of {} bytes for a buffer of {}", m.bytes.size(), buffer.size()));
  std::memcpy(buffer.data(), m.bytes.data(), m.bytes.size());
  return {m.tag, m.source, m.bytes.size()};
}

class FakeSend : public Request {
public:
  bool test() override {
    m_seen_done = true;
    return true;
  }
  // test() or wait_any said it was done: waiting on it again returns at once.
  bool seen_done() const { return m_seen_done; }
  void saw_done() { m_seen_done = true; }
  void wait() override {}
  void cancel() override {}
  size_t size() const override { return 0; }
  int source() const override { return 0; }
  int tag() const override { return 0; }

private:
  bool m_seen_done = false;
};

class FakeRecv : public Request {
public:
  FakeRecv(std::shared_ptr<Group> g, int rank, int source, int tag, MutableBytes buffer)
      : m_group(std::move(g)), m_rank(rank), m_source(source), m_tag(tag), m_buffer(buffer) {}
  bool test() override {
    Lock lock(m_group->net->mutex);
    if (!m_done)
      if (auto m = m_group->take_message(m_rank, m_source, m_tag))
        finish(*m);
    return m_done;
  }
  void wait() override {
    Lock lock(m_group->net->mutex);
    if (m_done)
      return;
    m_group->wait(
        lock, [&] { return m_group->has_message(m_rank, m_source, m_tag); },
        [&] { return m_group->sender_gone(m_rank, m_source); });
    finish(*m_group->take_message(m_rank, m_source, m_tag));
  }
  void cancel() override { m_done = true; }
  size_t size() const override { return m_received.size; }
  int source() const override { return m_received.source; }
  int tag() const override { return m_received.tag; }

  // Lock held: could test() complete now, or will it never?
  bool ready() const { return m_done || m_group->has_message(m_rank, m_source, m_tag); }
  std::string never() const { return m_done ? "" : m_group->sender_gone(m_rank, m_source); }

private:
  void finish(const Group::Message& m) {
    m_received = copy_out(m, m_buffer);
    m_done = true;
  }
  std::shared_ptr<Group> m_group;
  int m_rank, m_source, m_tag;
  MutableBytes m_buffer;
  Received m_received;
  bool m_done = false;
};

class FakeComm : public Comm {
public:
  FakeComm(std::shared_ptr<Group> group, int rank) : m_group(std::move(group)), m_rank(rank) {}

  int rank() const override { return m_rank; }
  int size() const override { return m_group->size(); }

  std::string broadcast(const std::string& data, int root) override {
    return collective(fmt::format("broadcast from {}", root),
                      m_rank == root ? data : std::string())[static_cast<size_t>(root)];
  }
  std::optional<std::vector<std::string>> hello(const std::string& mine, double) override {
    return all_gather(mine); // the fake's ranks all run this code: no other version, no bound needed
  }
  std::vector<std::string> all_gather(const std::string& mine) override {
    return collective("all_gather", mine);
  }
  std::vector<std::string> gather(const std::string& mine, int root) override {
    auto all = collective(fmt::format("gather to {}", root), mine);
    return m_rank == root ? all : std::vector<std::string>{};
  }
  int all_max(int value) override {
    int out = value;
    for (const std::string& v : collective("all_max", std::to_string(value)))
      out = std::max(out, std::stoi(v));
    return out;
  }
  std::string all_or(const std::string& bits) override {
    std::string out = bits;
    for (const std::string& other : collective(fmt::format("all_or of {} bytes", bits.size()), bits))
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char>(out[i] | other[i]);
    return out;
  }
  std::unique_ptr<Comm> split(int color) override { return split_by("split", color); }
  std::unique_ptr<Comm> duplicate(double) override { return split_by("duplicate", 0); }
  std::unique_ptr<Comm> split_machine() override {
    int machine;
    {
      Lock lock(m_group->net->mutex);
      machine = m_group->net->machine_of_rank[static_cast<size_t>(world_rank())];
    }
    return split_by("split_machine", machine);
  }

  void send(int dest, int tag, Bytes data) override { post(dest, tag, data); }
  std::unique_ptr<Request> isend(int dest, int tag, Bytes data) override {
    post(dest, tag, data);
    return std::make_unique<FakeSend>();
  }
  Received recv(int source, int tag, MutableBytes buffer) override {
    Lock lock(m_group->net->mutex);
    m_group->wait(
        lock, [&] { return m_group->has_message(m_rank, source, tag); },
        [&] { return m_group->sender_gone(m_rank, source); });
    return copy_out(*m_group->take_message(m_rank, source, tag), buffer);
  }
  std::unique_ptr<Request> irecv(int source, int tag, MutableBytes buffer) override {
    return std::make_unique<FakeRecv>(m_group, m_rank, source, tag, buffer);
  }
  // Sends complete at once; receives wait on the network's condition, and
  // fail, like recv, when their sender has left.
  size_t wait_any(const std::vector<Request*>& requests) override {
    if (requests.empty())
      throw CommError("wait_any: no request to wait for");
    std::vector<FakeRecv*> receives;
    for (size_t i = 0; i < requests.size(); ++i) {
      auto* r = dynamic_cast<FakeRecv*>(requests[i]);
      if (!r) { // a send: already complete
        if (auto* s = dynamic_cast<FakeSend*>(requests[i])) {
          if (s->seen_done()) {
            Lock lock(m_group->net->mutex);
            ++m_group->net->waits_on_done;
          }
          s->saw_done();
        }
        return i;
      }
      receives.push_back(r);
    }
    {
      Lock lock(m_group->net->mutex);
      m_group->wait(
          lock,
          [&] {
            return std::any_of(receives.begin(), receives.end(), [](FakeRecv* r) { return r->ready(); });
          },
          [&] {
            for (FakeRecv* r : receives)
              if (std::string why = r->never(); !why.empty())
                return why;
            return std::string();
          });
    }
    for (size_t i = 0; i < receives.size(); ++i)
      if (receives[i]->test())
        return i;
    throw CommError("wait_any: a ready receive did not complete");
  }
  // The fake's collectives complete when every rank has called them: this
  // one is done when it returns.
  std::unique_ptr<Request> ibroadcast(MutableBytes buffer, int root) override {
    const std::string mine = m_rank == root
                                 ? std::string(reinterpret_cast<const char*>(buffer.data()), buffer.size())
                                 : std::string(buffer.size(), '\0');
    const std::string got = collective(fmt::format("ibroadcast of {} bytes from {}", buffer.size(), root),
                                       mine)[static_cast<size_t>(root)];
    std::memcpy(buffer.data(), got.data(), std::min(got.size(), buffer.size()));
    return std::make_unique<FakeSend>();
  }

  void abort(int exit_code) override {
    {
      Lock lock(m_group->net->mutex);
      if (m_group->net->aborted.empty())
        m_group->net->aborted = fmt::format("rank {} aborted with exit code {}", world_rank(), exit_code);
    }
    m_group->net->changed.notify_all();
    throw FakeAbort{exit_code};
  }

private:
  int world_rank() const { return m_group->members[static_cast<size_t>(m_rank)]; }

  void post(int dest, int tag, Bytes data) {
    if (dest < 0 || dest >= size())
      throw CommError(fmt::format("send to rank {} of {}", dest, size()));
    {
      Lock lock(m_group->net->mutex);
      if (!m_group->net->aborted.empty())
        throw CommError("the job was aborted: " + m_group->net->aborted);
      std::string bytes(reinterpret_cast<const char*>(data.data()), data.size());
      const auto tamper = m_group->net->tamper.find(m_group->members[static_cast<size_t>(dest)]);
      if (tamper != m_group->net->tamper.end())
        tamper->second(tag, bytes);
      m_group->mailbox[static_cast<size_t>(dest)].push_back({m_rank, tag, std::move(bytes)});
    }
    m_group->net->changed.notify_all();
  }

  // Every rank's part of collective number m_seq. `on_complete` runs once,
  // by whichever rank sees the round complete first.
  std::vector<std::string> collective(const std::string& kind, const std::string& mine,
                                      const std::function<void(Group::Round&)>& on_complete = {},
                                      std::shared_ptr<Group>* child = nullptr, int color = -1) {
    Group& g = *m_group;
    Lock lock(g.net->mutex);
    const uint64_t seq = m_seq++;
    Group::Round& round = g.rounds[seq];
    if (round.parts.empty()) {
      round.kind = kind;
      round.parts.resize(static_cast<size_t>(g.size()));
    } else if (round.kind != kind && round.error.empty()) {
      round.error = fmt::format("collective mismatch: rank {} called {} where another rank called {}", m_rank,
                                kind, round.kind);
    }
    round.parts[static_cast<size_t>(m_rank)] = mine;
    g.net->changed.notify_all();
    auto complete = [&] {
      return std::all_of(round.parts.begin(), round.parts.end(), [](const auto& p) { return p.has_value(); });
    };
    g.wait(
        lock, [&] { return !round.error.empty() || complete(); },
        [&]() -> std::string {
          for (int r = 0; r < g.size(); ++r)
            if (!round.parts[static_cast<size_t>(r)] && g.has_left(r))
              return fmt::format("rank {} left the job while rank {} waited for it in {}", r, m_rank, kind);
          return "";
        });
    if (!round.error.empty())
      throw CommError(round.error);
    if (on_complete && round.taken == 0 && round.children.empty())
      on_complete(round);
    std::vector<std::string> out;
    for (const auto& p : round.parts)
      out.push_back(*p);
    if (child && color >= 0)
      *child = round.children.at(color);
    if (++round.taken == g.size())
      g.rounds.erase(seq);
    return out;
  }

  std::unique_ptr<Comm> split_by(const std::string& kind, int color) {
    std::shared_ptr<Group> child;
    auto make_groups = [this](Group::Round& round) {
      std::map<int, std::vector<int>> members;
      for (size_t r = 0; r < round.parts.size(); ++r)
        if (int c = std::stoi(*round.parts[r]); c >= 0)
          members[c].push_back(m_group->members[r]);
      for (auto& [c, m] : members)
        round.children[c] = std::make_shared<Group>(m_group->net, std::move(m));
    };
    collective(kind, std::to_string(color), make_groups, &child, color);
    if (!child)
      return nullptr;
    const auto& m = child->members;
    const int rank = static_cast<int>(std::find(m.begin(), m.end(), world_rank()) - m.begin());
    return std::make_unique<FakeComm>(child, rank);
  }

  std::shared_ptr<Group> m_group;
  int m_rank;
  uint64_t m_seq = 0;
};

} // namespace

FakeNetwork::FakeNetwork(std::vector<int> machine_of_rank) : m_shared(std::make_shared<Shared>()) {
  m_shared->left.assign(machine_of_rank.size(), false);
  m_shared->machine_of_rank = std::move(machine_of_rank);
}

FakeNetwork::~FakeNetwork() = default;

int FakeNetwork::size() const {
  return static_cast<int>(m_shared->machine_of_rank.size());
}

std::unique_ptr<Comm> FakeNetwork::world(int rank) {
  Lock lock(m_shared->mutex);
  if (!m_world) {
    std::vector<int> members(m_shared->machine_of_rank.size());
    for (size_t r = 0; r < members.size(); ++r)
      members[r] = static_cast<int>(r);
    m_world = std::make_shared<Group>(m_shared, std::move(members));
  }
  return std::make_unique<FakeComm>(std::static_pointer_cast<Group>(m_world), rank);
}

void FakeNetwork::leave(int rank) {
  {
    Lock lock(m_shared->mutex);
    m_shared->left[static_cast<size_t>(rank)] = true;
  }
  m_shared->changed.notify_all();
}

void FakeNetwork::abort_all(const std::string& why) {
  {
    Lock lock(m_shared->mutex);
    if (m_shared->aborted.empty())
      m_shared->aborted = why;
  }
  m_shared->changed.notify_all();
}

void FakeNetwork::tamper_with(int to, std::function<void(int, std::string&)> tamper) {
  Lock lock(m_shared->mutex);
  m_shared->tamper[to] = std::move(tamper);
}

std::string FakeNetwork::aborted() const {
  Lock lock(m_shared->mutex);
  return m_shared->aborted;
}

size_t FakeNetwork::waits_on_done() const {
  Lock lock(m_shared->mutex);
  return m_shared->waits_on_done;
}

} // namespace distenv::transport
