// Whether stderr reaches a person's terminal through mpirun: mpirun gives its
// local ranks a pipe for stderr, so a rank looks at the mpirun that started it.
#include "support/temp_dir.hpp"

#include <distenv/util/style.hpp>

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

namespace distenv::test {
namespace {

// A /proc with one process 42: its program and its fd 2.
std::string fake_proc(const TempDir& dir, const std::string& exe, const std::string& fd2) {
  const fs::path p = dir / "proc" / "42";
  fs::create_directories(p / "fd");
  fs::create_symlink(exe, p / "exe");
  fs::create_symlink(fd2, p / "fd" / "2");
  return (dir / "proc").string();
}

TEST(Terminal, MpirunWritingToATerminalCounts) {
  TempDir a, b, c, d;
  EXPECT_TRUE(launcher_writes_to_terminal(2, 42, fake_proc(a, "/usr/bin/orterun", "/dev/pts/3")));
  EXPECT_TRUE(launcher_writes_to_terminal(2, 42, fake_proc(b, "/opt/ompi/bin/prterun", "/dev/tty1")));
  EXPECT_FALSE(launcher_writes_to_terminal(2, 42, fake_proc(c, "/usr/bin/orterun", "/tmp/job.log")))
      << "mpirun's stderr is a file: a log";
  EXPECT_FALSE(launcher_writes_to_terminal(2, 42, fake_proc(d, "/usr/bin/bash", "/dev/pts/3")))
      << "not started by mpirun: the fd itself decides";
  EXPECT_FALSE(launcher_writes_to_terminal(2, 43, fake_proc(TempDir(), "/usr/bin/orterun", "/dev/pts/3")))
      << "no such process";
}

} // namespace
} // namespace distenv::test
