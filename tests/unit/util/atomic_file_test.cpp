// Files that appear whole or not at all, and the outputs that are not files.
#include <distenv/util/atomic_file.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace distenv;

TEST(AtomicFile, CommitReplacesAndAnUncommittedFileLeavesNothing) {
  test::TempDir t;
  write_file(t / "f", "old\n");
  {
    AtomicFile f(t / "f");
    f.write("half");
  } // not committed
  EXPECT_EQ(read_file(t / "f"), "old\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(t.path()), fs::directory_iterator()), 1);
  AtomicFile f(t / "f");
  f.write("new\n");
  f.commit();
  EXPECT_EQ(read_file(t / "f"), "new\n");
}

TEST(AtomicFile, AFifoIsWrittenInPlaceNotReplaced) {
  test::TempDir t;
  const fs::path fifo = t / "pipe"; // as `--pack-to >(consumer)` or /dev/null would be
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] {
    const int fd = ::open(fifo.c_str(), O_RDONLY);
    char buf[64];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
      got.append(buf, static_cast<size_t>(n));
    ::close(fd);
  });
  check_output_path(fifo, "--pack-to");
  AtomicFile f(fifo);
  f.write("stream");
  f.commit();
  reader.join();
  EXPECT_EQ(got, "stream");
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "replaced by a regular file";
}
