// The in-process Comm: collectives, splits and messages between threads, and
// protocol bugs that fail loudly (a mismatched collective, a peer that left)
// instead of hanging.
#include "support/comm_fake.hpp"
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/transport/codec.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <thread>

namespace distenv::transport {
namespace {

// Runs `body` on every rank of a fake network, one thread each; returns what
// each rank's body threw ("" when it returned).
std::vector<std::string> on_ranks(std::vector<int> machines, const std::function<void(Comm&)>& body,
                                  FakeNetwork* given = nullptr) {
  FakeNetwork own(given ? std::vector<int>{} : std::move(machines));
  FakeNetwork& net = given ? *given : own;
  std::vector<std::string> errors(static_cast<size_t>(net.size()));
  std::vector<std::thread> threads;
  for (int r = 0; r < net.size(); ++r)
    threads.emplace_back([&, r] {
      auto comm = net.world(r);
      try {
        body(*comm);
      } catch (const CommError& e) {
        errors[static_cast<size_t>(r)] = e.what();
      } catch (const FakeAbort& a) {
        errors[static_cast<size_t>(r)] = "abort " + std::to_string(a.exit_code);
      }
      net.leave(r);
    });
  for (auto& t : threads)
    t.join();
  return errors;
}

TEST(FakeComm, Collectives) {
  auto errors = on_ranks({0, 0, 1, 2}, [](Comm& c) {
    EXPECT_EQ(c.size(), 4);
    EXPECT_EQ(c.broadcast(c.rank() == 2 ? "from two" : "ignored", 2), "from two");
    auto all = c.all_gather(std::string(static_cast<size_t>(c.rank()), 'x'));
    ASSERT_EQ(all.size(), 4u);
    for (int r = 0; r < 4; ++r)
      EXPECT_EQ(all[static_cast<size_t>(r)], std::string(static_cast<size_t>(r), 'x'));
    auto gathered = c.gather(std::to_string(c.rank()), 1);
    EXPECT_EQ(gathered.size(), c.rank() == 1 ? 4u : 0u);
    EXPECT_EQ(c.all_max(c.rank() * 10), 30);
    EXPECT_EQ(all_gather_values(c, std::vector<int>{c.rank()}).at(3), std::vector<int>{3});
  });
  EXPECT_EQ(errors, std::vector<std::string>(4));
}

TEST(FakeComm, SplitsByColourAndByMachine) {
  auto errors = on_ranks({0, 0, 1, 1, 1}, [](Comm& c) {
    auto machine = c.split_machine();
    EXPECT_EQ(machine->size(), c.rank() < 2 ? 2 : 3);
    EXPECT_EQ(machine->rank(), c.rank() < 2 ? c.rank() : c.rank() - 2);
    auto odd = c.split(c.rank() % 2 ? 0 : -1);
    EXPECT_EQ(odd != nullptr, c.rank() % 2 == 1);
    if (odd) {
      EXPECT_EQ(odd->size(), 2);
      EXPECT_EQ(odd->broadcast(std::to_string(c.rank()), 0), "1");
    }
  });
  EXPECT_EQ(errors, std::vector<std::string>(5));
}

TEST(FakeComm, MessagesKeepTheirOrderAndMatchByTag) {
  auto errors = on_ranks({0, 1}, [](Comm& c) {
    std::array<std::byte, 8> buf{};
    if (c.rank() == 0) {
      c.send(1, 7, std::as_bytes(std::span("a", 1)));
      c.isend(1, 7, std::as_bytes(std::span("b", 1)))->wait();
      c.send(1, 9, std::as_bytes(std::span("c", 1)));
    } else {
      auto stop = c.irecv(Comm::k_any, 9, buf);
      EXPECT_EQ(c.recv(0, 7, buf).size, 1u);
      EXPECT_EQ(static_cast<char>(buf[0]), 'a');
      EXPECT_EQ(c.recv(0, Comm::k_any, buf).tag, 7);
      EXPECT_EQ(static_cast<char>(buf[0]), 'b');
      stop->wait();
      EXPECT_EQ(stop->source(), 0);
    }
  });
  EXPECT_EQ(errors, std::vector<std::string>(2));
}

TEST(FakeComm, MismatchedCollectivesFailInsteadOfHanging) {
  auto errors = on_ranks({0, 1, 2}, [](Comm& c) {
    if (c.rank() == 1)
      c.gather("x", 0);
    else
      c.all_gather("x");
  });
  for (const std::string& e : errors)
    EXPECT_NE(e.find("collective mismatch"), std::string::npos) << e;
}

TEST(FakeComm, WaitingForARankThatLeftFails) {
  auto errors = on_ranks({0, 1, 2}, [](Comm& c) {
    if (c.rank() != 2)
      c.all_max(1);
  });
  EXPECT_NE(errors[0].find("rank 2 left the job"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[2], "");
  errors = on_ranks({0, 1}, [](Comm& c) {
    std::array<std::byte, 1> buf{};
    if (c.rank() == 0)
      c.recv(1, Comm::k_any, buf);
  });
  EXPECT_NE(errors[0].find("rank 1 left the job"), std::string::npos) << errors[0];
}

TEST(FakeComm, AbortEndsEveryBlockedRank) {
  auto errors = on_ranks({0, 1, 2}, [](Comm& c) {
    if (c.rank() == 1)
      c.abort(4);
    c.all_max(0);
  });
  EXPECT_EQ(errors[1], "abort 4");
  EXPECT_NE(errors[0].find("the job was aborted: rank 1 aborted with exit code 4"), std::string::npos)
      << errors[0];
}

} // namespace
} // namespace distenv::transport

namespace distenv::transport {
namespace {

// A stream of `chunks` chunks whose bytes say which chunk they are.
struct Counted : pack::ChunkSource {
  explicit Counted(int chunks, size_t size) : left(chunks), bytes(size) {}
  pack::Bytes next() override {
    if (left == 0)
      return {};
    --left;
    std::fill(bytes.begin(), bytes.end(), std::byte(static_cast<uint8_t>(left)));
    return pack::Bytes(bytes.data(), bytes.size());
  }
  int left;
  std::vector<std::byte> bytes;
};

struct Collect : pack::ChunkSink {
  void put(pack::Bytes chunk) override { got.insert(got.end(), chunk.begin(), chunk.end()); }
  void close() override { closed = true; }
  std::vector<std::byte> got;
  bool closed = false;
};

// Every receiver gets the stream in order, and no rank waits on a send it
// already knows is done (a wait that returns at once: the rank would spin,
// a core busy, while it waits for its next chunk).
TEST(ChunkBroadcast, EveryScheduleDeliversInOrderWithoutSpinning) {
  for (const Method& m : {Method::chain(), Method::binary_tree(), Method::twotree()}) {
    SCOPED_TRACE(method_name(m));
    const int ranks = 7, chunks = 60;
    const size_t chunk = 1024;
    FakeNetwork net(std::vector<int>{0, 1, 2, 3, 4, 5, 6});
    std::vector<std::vector<std::byte>> got(ranks);
    std::mutex mutex;
    const auto errors = on_ranks(
        {},
        [&](Comm& c) {
          Counted source(chunks, chunk);
          Collect sink;
          const BroadcastResult r =
              broadcast_chunks(c, schedule(m, c.rank(), c.size(), 0), chunk, pipeline_depth(m, c.size()),
                               c.rank() == 0 ? &source : nullptr, c.rank() == 0 ? nullptr : &sink);
          std::lock_guard lock(mutex);
          if (c.rank() > 0 && r.complete && sink.closed)
            got[static_cast<size_t>(c.rank())] = sink.got;
        },
        &net);
    EXPECT_EQ(errors, std::vector<std::string>(ranks, ""));
    Counted expected_source(chunks, chunk);
    std::vector<std::byte> expected;
    for (pack::Bytes b; !(b = expected_source.next()).empty();)
      expected.insert(expected.end(), b.begin(), b.end());
    for (int r = 1; r < ranks; ++r)
      EXPECT_TRUE(got[static_cast<size_t>(r)] == expected) << "rank " << r;
    EXPECT_EQ(net.waits_on_done(), 0u) << "a receiver waited on a send it knew was done";
  }
}

} // namespace
} // namespace distenv::transport
