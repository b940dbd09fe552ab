// The stat-keyed hash cache: hits without reading, every way a file can
// change is seen, racy entries are not kept, bad cache files are ignored.
#include <distenv/hash/hash_cache.hpp>

#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;
namespace fs = boost::filesystem;

namespace {

// A file's ctime is "now" whatever we do, so an entry whose stat is taken
// right after a change is racy (not kept). The tests' caches see a clock the
// (longer, network) margin ahead instead of waiting for it to pass.
int64_t later_ns() {
  return hash::HashCache::system_now_ns() + hash::HashCache::k_racy_network_ns + 100'000'000;
}

// Sets a file's mtime to `seconds_ago` (its ctime becomes now, as always).
void age(const fs::path& p, int seconds_ago) {
  struct timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= seconds_ago;
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
}

// The cache's view after a save and a fresh load: how many of `files` it
// knows (hits) and whether it hashes them right.
uint64_t hits_after_reload(const fs::path& cache_file, const std::vector<fs::path>& files) {
  hash::HashCache cache(cache_file, later_ns);
  for (const fs::path& f : files) {
    uint64_t size = 0, expected_size = 0;
    EXPECT_EQ(cache.hash(f, size), hash::hash_file(f, expected_size)) << f;
    EXPECT_EQ(size, expected_size);
  }
  return cache.hits();
}

// Hashes `files` through a cache loaded from `cache_file` and saves it:
// (misses, hits).
std::pair<uint64_t, uint64_t> hash_and_save(const fs::path& cache_file, const std::vector<fs::path>& files) {
  hash::HashCache cache(cache_file, later_ns);
  uint64_t size = 0;
  for (const fs::path& f : files)
    cache.hash(f, size);
  cache.save();
  return {cache.misses(), cache.hits()};
}

} // namespace

TEST(HashCache, UnchangedFilesAreNotReadAgain) {
  TempDir t;
  write(t / "a", "alpha");
  write(t / "b", "beta");
  EXPECT_EQ(hash_and_save(t / "cache", {t / "a", t / "b"}), (std::pair<uint64_t, uint64_t>{2, 0}));
  EXPECT_EQ(hits_after_reload(t / "cache", {t / "a", t / "b"}), 2u);
  struct stat st {};
  ::stat((t / "cache").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(HashCache, RacyEntriesAreNotSaved) {
  TempDir t;
  write(t / "fresh", "just written");
  hash::HashCache cache(t / "cache");
  uint64_t size = 0;
  cache.hash(t / "fresh", size);
  cache.save(); // it changed right before its stat: it could change again within the same tick
  EXPECT_EQ(hits_after_reload(t / "cache", {t / "fresh"}), 0u);
}

TEST(HashCache, EveryKindOfChangeIsSeen) {
  TempDir t;
  write(t / "same-size", "aaaa");
  write(t / "replaced", "bbbb");
  write(t / "grown", "cc");
  age(t / "same-size", 100);
  age(t / "replaced", 100);
  {
    hash::HashCache cache(t / "cache", later_ns);
    uint64_t size = 0;
    for (const char* f : {"same-size", "replaced", "grown"})
      cache.hash(t / f, size);
    cache.save();
  }
  // Same size, mtime put back as it was: the ctime still moves.
  struct stat before {};
  ::stat((t / "same-size").c_str(), &before);
  write(t / "same-size", "AAAA");
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (t / "same-size").c_str(), times, 0), 0);
  // Replaced by another file of equal size and mtime: another inode.
  ::stat((t / "replaced").c_str(), &before);
  write(t / "replacement", "BBBB");
  times[0] = before.st_atim;
  times[1] = before.st_mtim;
  ASSERT_EQ(::utimensat(AT_FDCWD, (t / "replacement").c_str(), times, 0), 0);
  fs::rename(t / "replacement", t / "replaced");
  write(t / "grown", "ccc");
  // hits_after_reload checks each hash against a fresh read: none may be stale.
  EXPECT_EQ(hits_after_reload(t / "cache", {t / "same-size", t / "replaced", t / "grown"}), 0u);
}

TEST(HashCache, CorruptForeignOrOpenCacheFilesAreIgnored) {
  TempDir t;
  write(t / "a", "alpha");
  {
    hash::HashCache cache(t / "cache", later_ns);
    uint64_t size = 0;
    cache.hash(t / "a", size);
    cache.save();
  }
  ASSERT_EQ(hits_after_reload(t / "cache", {t / "a"}), 1u);
  std::string bytes = test::slurp(t / "cache");
  // A flipped byte in a record: the checksum no longer matches.
  std::string corrupt = bytes;
  corrupt[30] ^= 1;
  write(t / "corrupt", corrupt);
  ::chmod((t / "corrupt").c_str(), 0600);
  EXPECT_EQ(hits_after_reload(t / "corrupt", {t / "a"}), 0u);
  // Another format.
  write(t / "foreign", "distenv-hash-cache-v9\n" + bytes.substr(22));
  ::chmod((t / "foreign").c_str(), 0600);
  EXPECT_EQ(hits_after_reload(t / "foreign", {t / "a"}), 0u);
  // Writable by others: anyone could have put hashes in it.
  ::chmod((t / "cache").c_str(), 0666);
  EXPECT_EQ(hits_after_reload(t / "cache", {t / "a"}), 0u);
  // Cut short.
  write(t / "short", bytes.substr(0, bytes.size() - 5));
  ::chmod((t / "short").c_str(), 0600);
  EXPECT_EQ(hits_after_reload(t / "short", {t / "a"}), 0u);
}

TEST(HashCache, AnUnchangedRunLeavesTheFileAloneAndADroppedFileIsForgotten) {
  TempDir t;
  write(t / "a", "alpha");
  write(t / "b", "beta");
  hash_and_save(t / "cache", {t / "a", t / "b"});
  struct stat before {};
  ASSERT_EQ(::stat((t / "cache").c_str(), &before), 0);
  {
    hash::HashCache cache(t / "cache", later_ns);
    struct stat st {};
    ASSERT_EQ(::lstat((t / "a").c_str(), &st), 0);
    EXPECT_TRUE(cache.known(st)); // a walk's own stat: no system call
    EXPECT_TRUE(cache.known(t / "b"));
    cache.save(); // every entry used, none new: nothing to write
  }
  struct stat after {};
  ASSERT_EQ(::stat((t / "cache").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino); // not replaced
  {
    hash::HashCache cache(t / "cache", later_ns);
    EXPECT_TRUE(cache.known(t / "a"));
    cache.save(); // b is no longer part of the environment
  }
  EXPECT_EQ(hits_after_reload(t / "cache", {t / "b"}), 0u);
}

TEST(HashCache, CacheFilesOfProjectsNotReadFor30DaysGoWhenANewOneIsMade) {
  TempDir t;
  write(t / "a", "alpha");
  write(t / "hashes-old", "x");
  write(t / "hashes-recent", "x");
  write(t / "other-file", "x");
  age(t / "hashes-old", 40 * 86400);
  age(t / "other-file", 40 * 86400);
  age(t / "hashes-recent", 10 * 86400);
  hash::HashCache cache(t / "hashes-new");
  uint64_t size = 0;
  cache.hash(t / "a", size);
  cache.save();
  EXPECT_TRUE(fs::exists(t / "hashes-new"));
  EXPECT_FALSE(fs::exists(t / "hashes-old"));
  EXPECT_TRUE(fs::exists(t / "hashes-recent"));
  EXPECT_TRUE(fs::exists(t / "other-file")); // not ours to remove
}

TEST(HashCache, ACacheDirectoryThatIsALinkOrOpenToOthersIsNotUsed) {
  TempDir t;
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", (t / "cache").c_str(), 1);
  fs::create_directories(t / "cache");
  fs::create_directories(t / "victim");
  fs::create_symlink(t / "victim", t / "cache/distenv"); // planted: writes would land elsewhere
  EXPECT_EQ(hash::HashCache::default_file("/p", t / "store").parent_path(), t / "store");
  EXPECT_TRUE(fs::is_empty(t / "victim"));
  fs::remove(t / "cache/distenv");
  fs::create_directories(t / "cache/distenv");
  ::chmod((t / "cache/distenv").c_str(), 0777);
  EXPECT_EQ(hash::HashCache::default_file("/p", t / "store").parent_path(), t / "store");
  ::chmod((t / "cache/distenv").c_str(), 0700);
  EXPECT_EQ(hash::HashCache::default_file("/p", t / "store").parent_path(), t / "cache/distenv");
  if (old)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    ::unsetenv("XDG_CACHE_HOME");
}

// One cache file per project ever read: bounded to the most recently used
// (and none unused for 30 days), whatever else is in the directory.
TEST(HashCache, PruneKeepsTheMostRecentlyUsedFiles) {
  TempDir t;
  const std::time_t now = std::time(nullptr);
  for (int i = 0; i < 10; ++i) {
    const fs::path f = t / ("hashes-" + std::to_string(1000 + i));
    write(f, std::string(100, 'x'));
    fs::last_write_time(f, now - 3600 * (10 - i)); // hashes-1009 used last
  }
  write(t / "hashes-old", "x");
  fs::last_write_time(t / "hashes-old", now - 31 * 86400);
  write(t / "git-trees", "not a hash cache");
  write(t / "hashes-1.tmp-99", "being written");
  const auto [files, bytes] = hash::HashCache::prune(t.path(), 4);
  EXPECT_EQ(files, 7u);
  EXPECT_EQ(bytes, 601u);
  std::vector<std::string> left;
  for (fs::directory_iterator it(t.path()), end; it != end; ++it)
    left.push_back(it->path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"git-trees", "hashes-1.tmp-99", "hashes-1006", "hashes-1007",
                                            "hashes-1008", "hashes-1009"}));
}
