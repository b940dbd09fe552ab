// mpirun's stderr through distenv run: Open MPI's banners about a failure
// distenv explained go; everything else passes, as it comes.
#include <distenv/launch/stderr_filter.hpp>

#include <gtest/gtest.h>

namespace distenv::launch {
namespace {

const std::string k_rule = std::string(74, '-') + "\n";
const std::string k_exit_banner =
    k_rule +
    "Primary job  terminated normally, but 1 process returned\n"
    "a non-zero exit code. Per user-direction, the job has been aborted.\n" +
    k_rule + k_rule +
    "mpirun detected that one or more processes exited with non-zero status, thus "
    "causing\nthe job to be terminated. The first process to do so was:\n\n"
    "  Process name: [[25563,1],0]\n  Exit code:    1\n" +
    k_rule;
const std::string k_killed_banner = k_rule +
                                    "mpirun noticed that process rank 1 with PID 0 on node node2 exited on "
                                    "signal 9 (Killed).\n" +
                                    k_rule;

// Feeds `text` in pieces of `piece` bytes; what comes out.
std::string through(const std::string& text, size_t piece = 1000, bool explained = false) {
  std::string out;
  StderrFilter f([&](std::string_view s) { out += s; });
  if (explained)
    f.explained();
  for (size_t at = 0; at < text.size(); at += piece)
    f.feed(std::string_view(text).substr(at, piece));
  f.finish();
  return out;
}

TEST(StderrFilter, TheExitBannersGoOnceDistenvExplainedTheFailure) {
  const std::string ours = "[node3:5] oops\ndistenv: error: node3: worker 5 exited with 7\n";
  for (size_t piece : {1, 7, 1000}) {
    EXPECT_EQ(through(ours + k_exit_banner, piece), ours) << piece;
    EXPECT_EQ(through("distenv: \x1b[1;31merror:\x1b[0m node3: x\n" + k_exit_banner, piece),
              "distenv: \x1b[1;31merror:\x1b[0m node3: x\n")
        << piece;
  }
  EXPECT_EQ(through("mpirun: Forwarding signal 12 to job\n" + k_exit_banner, 3, true), "");
}

TEST(StderrFilter, WhatDistenvDidNotExplainPasses) {
  EXPECT_EQ(through(k_exit_banner), k_exit_banner) << "no distenv error line before it";
  const std::string killed = "distenv: error: node3: x\n" + k_killed_banner;
  EXPECT_EQ(through(killed, 5), killed) << "a rank killed by a signal";
  const std::string dashes = "-- not a rule\n[n:0] " + std::string(30, '-') + "\n";
  EXPECT_EQ(through(dashes, 2), dashes);
}

TEST(StderrFilter, AProgressLinePassesAtOnce) {
  std::string out;
  StderrFilter f([&](std::string_view s) { out += s; });
  f.feed("distenv: sending to 2 machines  80%\r");
  EXPECT_EQ(out, "distenv: sending to 2 machines  80%\r");
  f.feed("distenv: sending to 2 machines 100%\n");
  EXPECT_EQ(out, "distenv: sending to 2 machines  80%\rdistenv: sending to 2 machines 100%\n");
  f.feed("---");
  EXPECT_EQ(out.size(), 72u) << "a rule, perhaps: held";
  f.finish();
  EXPECT_EQ(out.substr(72), "---");
}

} // namespace
} // namespace distenv::launch
