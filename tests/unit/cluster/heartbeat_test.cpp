// Heartbeats: who has stopped answering, driven by a clock the test turns.
#include <distenv/cluster/heartbeat.hpp>

#include "support/comm_fake.hpp"

#include <gtest/gtest.h>

#include <memory>

using namespace distenv;

namespace {

// Three ranks on a fake network, each with its Heartbeats (timeout 5 s:
// beats every 0.5 s), polled in turn by one thread at the times the test
// gives. A rank that is not polled is frozen: it sends and takes nothing.
struct Three {
  transport::FakeNetwork net{std::vector<int>{0, 1, 2}};
  std::vector<std::unique_ptr<cluster::Heartbeats>> beats;
  Three() {
    for (int r = 0; r < 3; ++r)
      beats.push_back(std::make_unique<cluster::Heartbeats>(net.world(r), 5.0, 0.0));
  }
  // Polls the ranks not in `frozen` every 0.25 s from `from` to `to`; the
  // first silence each rank reports, with the time it was reported.
  struct Seen {
    std::vector<int> ranks;
    double at = -1;
  };
  std::vector<Seen> run(double from, double to, const std::vector<int>& frozen = {}) {
    std::vector<Seen> seen(3);
    for (double t = from; t <= to; t += 0.25)
      for (int r = 0; r < 3; ++r) {
        if (std::find(frozen.begin(), frozen.end(), r) != frozen.end())
          continue;
        std::vector<int> silent = beats[static_cast<size_t>(r)]->poll(t);
        if (!silent.empty() && seen[static_cast<size_t>(r)].at < 0)
          seen[static_cast<size_t>(r)] = {silent, t};
      }
    return seen;
  }
};

} // namespace

TEST(Heartbeats, BeatEveryTenthOfTheTimeout) {
  Three c;
  EXPECT_DOUBLE_EQ(c.beats[0]->interval(), 0.5);
}

TEST(Heartbeats, NobodyIsSilentWhileEveryoneBeats) {
  Three c;
  for (const auto& s : c.run(0, 120))
    EXPECT_TRUE(s.ranks.empty()) << "reported at " << s.at;
}

TEST(Heartbeats, RankZeroNamesAFrozenRankAfterTheTimeout) {
  Three c;
  c.run(0, 10);
  const auto seen = c.run(10.25, 30, {2});
  EXPECT_EQ(seen[0].ranks, std::vector<int>{2});
  EXPECT_GT(seen[0].at, 10 + 5);
  EXPECT_LE(seen[0].at, 10 + 5 + 0.5 + 0.25); // the timeout, a beat interval and a poll
  EXPECT_TRUE(seen[1].ranks.empty()) << "rank 1 watches only rank 0, which still beats";
}

TEST(Heartbeats, EveryRankNamesAFrozenRankZero) {
  Three c;
  c.run(0, 10);
  const auto seen = c.run(10.25, 30, {0});
  EXPECT_EQ(seen[1].ranks, std::vector<int>{0});
  EXPECT_EQ(seen[2].ranks, std::vector<int>{0});
  EXPECT_GT(seen[1].at, 15);
}

TEST(Heartbeats, SeveralFrozenRanksAreNamedTogether) {
  transport::FakeNetwork net{std::vector<int>{0, 1, 2, 3}};
  std::vector<std::unique_ptr<cluster::Heartbeats>> beats;
  for (int r = 0; r < 4; ++r)
    beats.push_back(std::make_unique<cluster::Heartbeats>(net.world(r), 5.0, 0.0));
  for (double t = 0; t <= 3; t += 0.25)
    for (auto& b : beats)
      b->poll(t);
  std::vector<int> silent;
  for (double t = 3.25; t <= 20 && silent.empty(); t += 0.25) {
    silent = beats[0]->poll(t);
    beats[2]->poll(t);
  }
  EXPECT_EQ(silent, (std::vector<int>{1, 3}));
}

TEST(Heartbeats, ARankThatSaidGoodbyeIsNotWatched) {
  Three c;
  c.run(0, 10);
  c.beats[2]->goodbye();
  const auto seen = c.run(10.25, 60, {2});
  EXPECT_TRUE(seen[0].ranks.empty());
}

TEST(Heartbeats, ASilenceThatEndsBeforeTheTimeoutIsForgiven) {
  Three c;
  c.run(0, 10);
  c.run(10.25, 14, {2}); // 4 s without rank 2: less than the timeout
  const auto seen = c.run(14.25, 40);
  for (const auto& s : seen)
    EXPECT_TRUE(s.ranks.empty());
}

TEST(Heartbeats, SilenceLines) {
  const std::vector<std::string> hosts{"node1", "node2", "node2", "node3"};
  EXPECT_EQ(
      cluster::silence_line(0, {3}, 21.4, 20, hosts),
      "node3: no heartbeat for 21 s (its distenv-bootstrap is stopped or hung, or the network to it is cut; "
      "--heartbeat-timeout 20)");
  EXPECT_EQ(cluster::silence_line(0, {1, 2, 3}, 21, 20, hosts).substr(0, 35),
            "node2, node3: no heartbeat for 21 s");
  EXPECT_EQ(cluster::silence_line(1, {0}, 20.6, 20, hosts).substr(0, 54),
            "node1: no heartbeat for 21 s, as seen from node2 (its ");
  EXPECT_EQ(cluster::silence_line(2, {0}, 21, 20, hosts), "") << "one line, not one per machine";
}
