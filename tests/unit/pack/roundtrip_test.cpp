// pack -> chunks -> extract compares every byte and mode.
#include "support/memory_chunks.hpp"
#include <distenv/install/extract.hpp>
#include <distenv/pack/archive_writer.hpp>
#include <distenv/pack/pipe.hpp>
#include <distenv/pack/zstd_writer.hpp>
#include <distenv/util/error.hpp>

#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <sys/stat.h>
#include <thread>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

void expect_same_tree(const layout::Tree& tree, const fs::path& root) {
  size_t checked = 0;
  for (const layout::FileEntry& e : tree.entries) {
    const fs::path p = root / e.path;
    struct stat st {};
    ASSERT_EQ(::lstat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 07777, e.type == hash::EntryType::symlink ? 0777u : e.mode) << p;
    if (e.type == hash::EntryType::file) {
      ASSERT_TRUE(S_ISREG(st.st_mode)) << p;
      const std::string expected = e.content ? *e.content : test::slurp(e.source);
      EXPECT_EQ(test::slurp(p), expected) << p;
      EXPECT_EQ(static_cast<uint64_t>(st.st_size), e.size);
      if (!e.content)
        EXPECT_EQ(st.st_mtime, e.mtime) << p;
    } else if (e.type == hash::EntryType::symlink) {
      ASSERT_TRUE(S_ISLNK(st.st_mode)) << p;
      EXPECT_EQ(fs::read_symlink(p).string(), e.link_target);
    } else {
      EXPECT_TRUE(S_ISDIR(st.st_mode)) << p;
    }
    ++checked;
  }
  EXPECT_EQ(checked, tree.entries.size());
  // Nothing else on disk but the parents of what shipped.
  std::set<std::string> expected;
  for (const layout::FileEntry& e : tree.entries)
    for (fs::path q = e.path; !q.empty(); q = q.parent_path())
      expected.insert(q.generic_string());
  for (fs::recursive_directory_iterator it(root), end; it != end; ++it) {
    if (fs::is_symlink(it->symlink_status()))
      it.disable_recursion_pending();
    EXPECT_TRUE(expected.count(it->path().lexically_relative(root).generic_string())) << it->path();
  }
}

} // namespace

TEST(Pack, RoundTripThousandsOfFilesInSmallChunks) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  std::mt19937 rng(42);
  for (int i = 0; i < 2500; ++i) {
    std::string content(rng() % 3000, '\0');
    for (char& c : content)
      c = static_cast<char>(rng());
    write(t / ("p/pkg" + std::to_string(i % 11) + "/sub" + std::to_string(i % 5) + "/f" + std::to_string(i) +
               ".bin"),
          content);
  }
  write(t / "p/empty", "");
  write(t / "p/tool.sh", "#!/bin/sh\necho hi\n");
  fs::permissions(t / "p/tool.sh", fs::perms(0755));
  std::string big(5 << 20, 'a'); // spans many chunks
  for (size_t i = 0; i < big.size(); i += 4096)
    big[i] = static_cast<char>(rng());
  write(t / "p/big.dat", big);
  fs::create_symlink("pkg1/sub1", t / "p/link-dir");
  fs::create_directories(t / "p/empty-dir");

  auto p = test::plan(t / "p");
  test::MemoryChunks chunks;
  auto stats = pack::pack_tree(p.tree, chunks, {4096, 3, 0});
  EXPECT_GT(chunks.count(), 10u);
  for (size_t i = 0; i + 1 < chunks.count(); ++i)
    ASSERT_EQ(chunks.chunks()[i].size(), 4096u);
  EXPECT_EQ(stats.entries, p.tree.entries.size());

  fs::create_directories(t / "out");
  auto result = install::extract(chunks, fs::canonical(t / "out"));
  EXPECT_EQ(result.tree_hash, p.tree.tree_hash);
  EXPECT_EQ(result.bytes, p.tree.bytes);
  expect_same_tree(p.tree, t / "out");
}

TEST(Pack, ThroughABoundedPipeBetweenThreads) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  auto p = test::plan(t / "home/u/proj");
  pack::ChunkPipe pipe(2);
  std::thread producer([&] { pack::pack_tree(p.tree, pipe, {4096, 1, 0}); });
  fs::create_directories(t / "out");
  auto result = install::extract(pipe, fs::canonical(t / "out"));
  producer.join();
  EXPECT_EQ(result.tree_hash, p.tree.tree_hash);
  expect_same_tree(p.tree, t / "out");
}

TEST(Pack, FileChangedWhilePackingIsAnError) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  write(t / "p/data", "before");
  auto p = test::plan(t / "p");
  write(t / "p/data", "after!"); // same size, other bytes
  test::MemoryChunks chunks;
  try {
    pack::pack_tree(p.tree, chunks, {4096, 3, 0});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              (t / "p/data").string() + ": changed while it was being packed; run again");
  }
}

TEST(Pack, TruncatedStreamIsAnError) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  auto p = test::plan(t / "home/u/proj");
  test::MemoryChunks chunks;
  pack::pack_tree(p.tree, chunks, {512, 3, 0});
  chunks.chunks().resize(chunks.count() / 2);
  fs::create_directories(t / "out");
  EXPECT_THROW(install::extract(chunks, fs::canonical(t / "out")), Error);
}

// The level follows the slower side: the network waiting for the packer
// lowers it (then adds a thread), the packer waiting for the network raises
// it; small differences change nothing.
TEST(Pack, TheLevelFollowsTheSlowerSide) {
  pack::LevelControl c(3, 1, 9, 4);
  EXPECT_FALSE(c.look({0, 0}));
  EXPECT_TRUE(c.look({0, 0.5})); // the network waited 0.5 s for packing
  EXPECT_EQ(c.level(), 2);
  c.look({0, 1.0});
  EXPECT_EQ(c.level(), 1);
  EXPECT_TRUE(c.look({0, 1.5})) << "at the lowest level, a thread more";
  EXPECT_EQ(c.threads(), 1);
  EXPECT_FALSE(c.look({0.005, 1.505})) << "noise";
  EXPECT_TRUE(c.look({1.0, 1.505})); // now the packer waits for the network
  EXPECT_EQ(c.threads(), 0);
  c.look({2.0, 1.505});
  EXPECT_EQ(c.level(), 2);
  EXPECT_EQ(c.history(), "3 -> 2 -> 1 -> 1 (1 thread) -> 1 -> 2");
  pack::LevelControl one_core(1, 1, 9, 1);
  EXPECT_FALSE(one_core.look({0, 5})) << "no thread to add on one core";
}

// A stream whose level changes on the way (a frame per level) reads back
// as one archive, the same tree.
TEST(Pack, AStreamWhoseLevelChangesReadsAsOne) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  std::mt19937_64 random(3);
  for (int i = 0; i < 12; ++i) {
    std::string data(3 << 20, '\0'); // 3 MiB each: a look every 8 MiB
    for (size_t j = 0; j < data.size(); j += 8)
      data[j] = static_cast<char>(random());
    write(t / "p" / ("f" + std::to_string(i)), data);
  }
  auto p = test::plan(t / "p");
  test::MemoryChunks chunks;
  pack::PackOptions po{1 << 20, 3, 0};
  po.adapt = true;
  double network_waited = 0;
  po.pressure = [&] { // packing is always the slower side here
    network_waited += 1;
    return pack::ChunkPipe::Waits{0, network_waited};
  };
  const pack::PackStats stats = pack::pack_tree(p.tree, chunks, po);
  EXPECT_EQ(stats.levels.rfind("3 -> 2 -> 1", 0), 0u) << stats.levels;
  fs::create_directories(t / "out");
  auto result = install::extract(chunks, fs::canonical(t / "out"));
  EXPECT_EQ(result.tree_hash, p.tree.tree_hash);
  expect_same_tree(p.tree, t / "out");
}
