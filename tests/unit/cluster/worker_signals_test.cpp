// Signals to single workers: control lines on rank 0, relayed to the rank
// that owns the worker.
#include <distenv/cluster/worker_signals.hpp>
#include <distenv/util/error.hpp>

#include "support/comm_fake.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace distenv;
using Requests = std::vector<std::pair<size_t, int>>;

TEST(SignalLine, NamesNumbersAndTheSigPrefixAreSignals) {
  EXPECT_EQ(cluster::parse_signal_line("signal 3 INT").signal, SIGINT);
  EXPECT_EQ(cluster::parse_signal_line("signal 3 SIGTERM").signal, SIGTERM);
  EXPECT_EQ(cluster::parse_signal_line("signal 12 9").signal, 9);
  EXPECT_EQ(cluster::parse_signal_line("  signal   12  USR1 ").worker, 12);
}

TEST(SignalLine, AnythingElseSaysWhatIsWrong) {
  const auto problem = [](const std::string& line) {
    try {
      cluster::parse_signal_line(line);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(problem("kill 3 INT"), "expected 'signal WORKER SIGNAL'");
  EXPECT_EQ(problem("signal 3"), "expected 'signal WORKER SIGNAL'");
  EXPECT_EQ(problem("signal 3 INT now"), "expected 'signal WORKER SIGNAL'");
  EXPECT_EQ(problem("signal -1 INT"), "'-1' is not a worker id");
  EXPECT_EQ(problem("signal x INT"), "'x' is not a worker id");
  EXPECT_EQ(problem("signal 1 NOPE"), "'NOPE' is not a signal");
  EXPECT_EQ(problem("signal 1 0"), "'0' is not a signal");
  EXPECT_EQ(problem("signal 1 999"), "'999' is not a signal");
}

// Three ranks with 2, 0 and 3 workers: the lines written to rank 0's pipe
// (one of them in two pieces) reach the owners as (local index, signal),
// in order; bad lines are warned about; settle() takes in what an owner did
// not take while its workers ran.
TEST(WorkerSignals, RankZeroRoutesEachLineToTheOwnerOfTheWorker) {
  transport::FakeNetwork net{std::vector<int>{0, 1, 2}};
  int control[2];
  ASSERT_EQ(::pipe(control), 0);
  const auto put = [&](const std::string& text) {
    ASSERT_EQ(::write(control[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  };
  std::vector<Requests> got(3);
  std::ostringstream warnings;
  std::vector<std::thread> ranks;
  for (int r = 0; r < 3; ++r)
    ranks.emplace_back([&, r] {
      auto world = net.world(r);
      std::ostringstream mine;
      cluster::WorkerSignals signals(*world, {2, 0, 3}, control[0], r == 0 ? warnings : mine);
      Requests& taken = got[static_cast<size_t>(r)];
      const auto take = [&] {
        for (const auto& q : signals.take())
          taken.push_back(q);
      };
      if (r == 0) {
        put("signal 4 INT\nsignal 0 TERM\nbogus\nsignal 5 INT\nsignal 2 HUP\nsignal 1 ");
        take();
        put("9\n");
        take();
      }
      while (r == 2 && taken.size() < 2)
        take();
      world->all_max(0); // rank 2's workers have ended: it takes no more
      if (r == 0) {
        put("signal 3 KILL\n");
        take();
        ::close(control[1]);
        take(); // end of the control lines
      }
      signals.settle();
      net.leave(r);
    });
  for (auto& t : ranks)
    t.join();
  ::close(control[0]);
  EXPECT_EQ(got[0], (Requests{{0, SIGTERM}, {1, 9}}));
  EXPECT_EQ(got[1], Requests{});
  EXPECT_EQ(got[2], (Requests{{2, SIGINT}, {0, SIGHUP}}));
  EXPECT_EQ(warnings.str(),
            "distenv: warning: control line 'bogus' ignored: expected 'signal WORKER SIGNAL'\n"
            "distenv: warning: control line 'signal 5 INT' ignored: no worker 5 in this job (5 workers)\n");
}
