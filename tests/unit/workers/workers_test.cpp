// Activation, line prefixing and supervision of real (sh) processes.
#include <distenv/workers/activation.hpp>
#include <distenv/workers/line_buffer.hpp>
#include <distenv/workers/supervisor.hpp>

#include "support/fake_cluster.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <distenv/util/interrupt.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

using namespace distenv;
using namespace distenv::workers;

TEST(LineBuffer, OnlyWholeLinesWithPrefix) {
  LineBuffer b("[n1:0] ");
  EXPECT_EQ(b.feed("hel"), "");
  EXPECT_EQ(b.feed("lo\nwor"), "[n1:0] hello\n");
  EXPECT_EQ(b.feed("ld\n\nx"), "[n1:0] world\n[n1:0] \n");
  EXPECT_EQ(b.flush(), "[n1:0] x\n");
  EXPECT_EQ(b.flush(), "");
  LineBuffer small("> ", 4);
  EXPECT_EQ(small.feed("abcdefg"), "> abcd\n");
  EXPECT_EQ(small.flush(), "> efg\n");
}

TEST(Activation, VariablesPlaceholdersAndLauncherVariablesRemoved) {
  layout::Metadata m;
  m.project = "u/proj";
  m.env = {{"JULIA_PROJECT", "{project}"}, {"DATA", "{root}/data:{project}/x"}, {"HOME", "/override"}};
  auto env = activation_environment({"PATH=/bin", "HOME=/root", "OMPI_COMM_WORLD_RANK=3", "PMIX_RANK=3"}, m,
                                    "/s/envs/h", 1, 3, WorkerPlace{1, 3, 4, 6, 0, 2});
  EXPECT_EQ(env_value(env, "PATH"), "/bin");
  EXPECT_EQ(env_value(env, "HOME"), "/override");
  EXPECT_EQ(env_value(env, "OMPI_COMM_WORLD_RANK"), "");
  EXPECT_EQ(env_value(env, "PMIX_RANK"), "");
  EXPECT_EQ(env_value(env, "JULIA_PROJECT"), "/s/envs/h/u/proj");
  EXPECT_EQ(env_value(env, "DATA"), "/s/envs/h/data:/s/envs/h/u/proj/x");
  EXPECT_EQ(env_value(env, "DISTENV_ROOT"), "/s/envs/h");
  EXPECT_EQ(env_value(env, "DISTENV_PROJECT"), "/s/envs/h/u/proj");
  EXPECT_EQ(env_value(env, "DISTENV_MACHINE"), "1");
  EXPECT_EQ(env_value(env, "DISTENV_MACHINES"), "3");
  EXPECT_EQ(env_value(env, "DISTENV_WORKER"), "4");
  EXPECT_EQ(env_value(env, "DISTENV_WORKERS"), "6");
  EXPECT_EQ(env_value(env, "DISTENV_LOCAL_WORKER"), "0");
  EXPECT_EQ(env_value(env, "DISTENV_LOCAL_WORKERS"), "2");
  auto once = activation_environment({}, m, "/r", 0, 1, std::nullopt);
  EXPECT_EQ(env_value(once, "DISTENV_WORKER"), "");
}

TEST(Activation, FindProgram) {
  EXPECT_EQ(find_program("sh", "/nonexistent:/bin:/usr/bin"), "/bin/sh");
  EXPECT_EQ(find_program("no-such-program-here", "/bin:/usr/bin"), "");
  EXPECT_EQ(find_program("/bin/sh", ""), "/bin/sh");
}

namespace {

struct Captured {
  std::string out, err;
};

// Runs supervise() with stdout/stderr captured through temp files.
Supervised run(const std::vector<Spec>& specs, Captured& c, double grace = 5) {
  test::TempDir t;
  int out = ::open((t / "out").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  int err = ::open((t / "err").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  auto r = supervise(specs, {grace, out, err});
  ::close(out);
  ::close(err);
  c.out = test::slurp(t / "out");
  c.err = test::slurp(t / "err");
  return r;
}

Spec sh(const std::string& script, const std::string& label) {
  return {{"sh", "-c", script}, {"PATH=/usr/bin:/bin"}, "/", label};
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find(part, pos)) != std::string::npos; pos += part.size())
    ++n;
  return n;
}

} // namespace

TEST(Supervisor, PrefixesWholeLinesAndCollectsExitCodes) {
  Captured c;
  // Two writers emit partial lines in many small pieces at once.
  const std::string chatty =
      "i=0; while [ $i -lt 200 ]; do printf 'aaaa'; printf 'bbbb\\n'; i=$((i+1)); done";
  auto r = run(
      {sh(chatty, "n:0"), sh(chatty, "n:1"), sh("echo oops >&2; exit 3", "n:2"), sh("kill -9 $$", "n:3")}, c);
  ASSERT_EQ(r.exits.size(), 4u);
  EXPECT_EQ(r.exits[0].status(), 0);
  EXPECT_EQ(r.exits[2].status(), 3);
  EXPECT_EQ(r.exits[2].describe(), "exited with 3");
  EXPECT_EQ(r.exits[3].signal, 9);
  EXPECT_EQ(r.exits[3].status(), 137);
  EXPECT_EQ(count(c.out, "[n:0] aaaabbbb\n"), 200u);
  EXPECT_EQ(count(c.out, "[n:1] aaaabbbb\n"), 200u);
  EXPECT_EQ(count(c.out, "\n"), 400u) << "a line was split or mixed";
  EXPECT_EQ(c.err, "[n:2] oops\n");
}

TEST(Supervisor, CannotStart) {
  Captured c;
  auto r = run({{{"no-such-program-xyz"}, {"PATH=/bin"}, "/", "n:0"},
                {{"sh", "-c", "true"}, {"PATH=/bin"}, "/no/such/dir", "n:1"}},
               c);
  EXPECT_EQ(r.exits[0].status(), 127);
  EXPECT_EQ(r.exits[0].describe(), "cannot run 'no-such-program-xyz': not found on PATH");
  EXPECT_EQ(r.exits[1].describe(), "cannot run 'sh' in /no/such/dir: no such file or directory");
}

TEST(Supervisor, ManyWorkersFitALowDescriptorLimit) {
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  if (old.rlim_max != RLIM_INFINITY && old.rlim_max < 1024)
    GTEST_SKIP() << "the hard limit of open files is " << old.rlim_max;
  struct rlimit low = old;
  low.rlim_cur = 128; // 100 workers need 200 descriptors while they run
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<Spec> specs;
  for (int i = 0; i < 100; ++i)
    specs.push_back(sh("exit 0", "n:" + std::to_string(i)));
  Captured c;
  const Supervised r = run(specs, c);
  ::setrlimit(RLIMIT_NOFILE, &old);
  ASSERT_EQ(r.exits.size(), 100u);
  for (const Exit& e : r.exits)
    EXPECT_EQ(e.status(), 0) << e.label << ": " << e.describe();
}

TEST(Supervisor, SignalIsForwardedThenKillAfterGrace) {
  Captured c;
  test::TempDir t;
  const std::string ready0 = (t / "ready0").string(), ready1 = (t / "ready1").string();
  // The signal comes once both workers have set their traps (files they
  // make say so): synchronised on the workers, not on a sleep.
  std::thread killer([&] {
    while (!fs::exists(ready0) || !fs::exists(ready1))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(::getpid(), SIGTERM);
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = run({sh("trap 'echo term; exit 4' TERM; : > " + ready0 + "; sleep 30 & wait", "n:0"),
                sh("trap '' TERM; : > " + ready1 + "; sleep 30 & wait; sleep 30", "n:1")}, // ignores SIGTERM
               c, 1.0);
  killer.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.interrupted_by, SIGTERM);
  EXPECT_EQ(r.exits[0].status(), 4);
  EXPECT_EQ(r.exits[1].signal, SIGKILL);
  EXPECT_EQ(c.out, "[n:0] term\n");
  EXPECT_LT(took, 10.0); // not the 30 s of the sleeps
}

// distenv run's Ctrl-C reaches every rank as SIGUSR2 (through mpirun): the
// workers get SIGTERM and their grace, and the stop stays asked, so the
// job's next step fails too, by check_stop.
TEST(Supervisor, TheJobsStopEndsWorkersTidilyAndIsRemembered) {
  Captured c;
  test::TempDir t;
  const std::string ready = (t / "ready").string();
  catch_stop_signal();
  std::thread stopper([&] {
    while (!fs::exists(ready))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(::getpid(), k_stop_signal);
  });
  auto r = run({sh("trap 'echo term; exit 4' TERM; : > " + ready + "; sleep 30 & wait", "n:0")}, c, 5.0);
  stopper.join();
  EXPECT_EQ(r.interrupted_by, k_stop_signal);
  EXPECT_EQ(r.interruption(), "stopped: distenv run was interrupted");
  EXPECT_EQ(r.exits[0].status(), 4);
  EXPECT_EQ(c.out, "[n:0] term\n");
  EXPECT_TRUE(stop_asked());
  EXPECT_THROW(check_stop(), Stopped);
  catch_stop_signal(); // the next job's: no stop asked yet
  EXPECT_FALSE(stop_asked());
  ::kill(::getpid(), k_stop_signal); // outside the supervisor: only marked
  EXPECT_TRUE(stop_asked());
  test::reset_stop();
}

TEST(Supervisor, SignalForOneWorkerReachesOnlyThatWorker) {
  test::TempDir t;
  const std::string ready = (t / "ready").string(), done = (t / "done").string();
  // Workers 0 and 2 wait for the file worker 1 makes when its SIGINT comes;
  // worker 3 runs until its SIGTERM. The requests come once all four are
  // ready (files, not a sleep).
  const std::string waiter =
      "trap 'echo wrong; exit 9' INT; : > " + ready + "$0; while [ ! -e " + done + " ]; do sleep 0.01; done";
  const std::string target = "trap 'echo interrupted; : > " + done + "; exit 5' INT; : > " + ready +
                             "1; while :; do sleep 0.01; done";
  const std::string removed = ": > " + ready + "3; while :; do sleep 0.01; done";
  bool asked = false;
  SuperviseOptions options{5, -1, -1};
  options.take_signals = [&] {
    std::vector<std::pair<size_t, int>> q;
    bool all = true;
    for (const char* i : {"0", "1", "2", "3"})
      all = all && fs::exists(ready + i);
    if (!asked && all) {
      asked = true;
      q = {{7, SIGINT}, {1, SIGINT}, {3, SIGTERM}}; // no worker 7 here: ignored
    }
    return q;
  };
  test::TempDir out_dir;
  options.out_fd = ::open((out_dir / "out").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  options.err_fd = ::open((out_dir / "err").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  Spec w0 = sh(waiter, "n:0"), w1 = sh(target, "n:1"), w2 = sh(waiter, "n:2"), w3 = sh(removed, "n:3");
  w0.argv.push_back("0");
  w2.argv.push_back("2");
  const Supervised r = supervise({w0, w1, w2, w3}, options);
  ::close(options.out_fd);
  ::close(options.err_fd);
  EXPECT_TRUE(asked);
  EXPECT_EQ(r.interrupted_by, 0);
  EXPECT_FALSE(r.stopped);
  ASSERT_EQ(r.exits.size(), 4u);
  EXPECT_EQ(r.exits[0].status(), 0);
  EXPECT_EQ(r.exits[1].status(), 5) << "asked for SIGINT, but it exited with 5 of its own";
  EXPECT_EQ(r.exits[1].describe(), "exited with 5");
  EXPECT_EQ(r.exits[2].status(), 0);
  EXPECT_EQ(r.exits[3].signal, SIGTERM);
  EXPECT_EQ(r.exits[3].status(), 0) << "ended by the signal it was asked to get: not a failure";
  EXPECT_EQ(r.exits[3].describe(), "ended by signal 15 (Terminated), as asked");
  EXPECT_EQ(test::slurp(out_dir / "out"), "[n:1] interrupted\n");
}
