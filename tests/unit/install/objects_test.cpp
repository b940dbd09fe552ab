// The store's objects: link modes, trust by stat records, repair, gc.
#include <distenv/install/objects.hpp>
#include <distenv/install/store.hpp>
#include <distenv/pack/archive_writer.hpp>

#include "support/memory_chunks.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

// A project with `files` files of 4 KiB each (file i holds 'a' + i).
test::Planned project(const fs::path& dir, int files, const std::string& edit = "") {
  write(dir / "distenv.toml", "");
  for (int i = 0; i < files; ++i)
    write(dir / ("f" + std::to_string(i)),
          std::string(4096, static_cast<char>('a' + i % 26)) + std::to_string(i));
  if (!edit.empty())
    write(dir / "f0", edit);
  return test::plan(dir);
}

hash::Hash128 hash_of(const test::Planned& p, const std::string& path) {
  for (const auto& e : p.tree.entries)
    if (e.path == path)
      return e.hash;
  ADD_FAILURE() << "no entry " << path;
  return {};
}

uint64_t disk_used(const fs::path& dir) { // distinct inodes only
  std::set<ino_t> seen;
  uint64_t bytes = 0;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    const struct stat st = stat_of(it->path());
    if (S_ISREG(st.st_mode) && seen.insert(st.st_ino).second)
      bytes += static_cast<uint64_t>(st.st_size);
  }
  return bytes;
}

} // namespace

TEST(Objects, ANewVersionLinksTheUnchangedFilesOfTheLast) {
  TempDir t;
  const auto v1 = project(t / "v1/p", 20);
  const auto v2 = project(t / "v2/p", 20, "one line changed");
  const auto hardlink = install::LinkMode::hardlink;
  const auto r1 = test::install_locally(v1, t / "dest", 64 << 10, hardlink);
  // The second install gets its unchanged files from the objects (a stream
  // would send them by reference; here they come whole and are deduplicated).
  const auto r2 = test::install_locally(v2, t / "dest", 64 << 10, hardlink);
  const struct stat a = stat_of(r1.dir / "p/f5"), b = stat_of(r2.dir / "p/f5");
  EXPECT_EQ(a.st_ino, b.st_ino) << "one inode for one content";
  EXPECT_EQ(a.st_mode & 07777, 0444u) << "read-only";
  EXPECT_NE(stat_of(r1.dir / "p/f0").st_ino, stat_of(r2.dir / "p/f0").st_ino);
  // Two versions on disk: about one version plus the change.
  const uint64_t one = disk_used(r1.dir);
  EXPECT_LE(disk_used(t / "dest"), one + one / 20 + 64) << "versions share their objects";
}

TEST(Objects, AnObjectChangedInPlaceIsNoLongerTrusted) {
  TempDir t;
  const auto v1 = project(t / "v1/p", 3);
  const auto r1 = test::install_locally(v1, t / "dest");
  install::Objects objects(t / "dest/objects", install::LinkMode::automatic);
  objects.load();
  const hash::Hash128 f1 = hash_of(v1, "p/f1");
  ASSERT_TRUE(objects.has(f1));
  // Someone (root, say) makes the installed file writable and edits it:
  // same size, another mtime.
  const fs::path installed = r1.dir / "p/f1";
  const struct stat before = stat_of(installed);
  ::chmod(installed.c_str(), 0644);
  write(installed, std::string(static_cast<size_t>(before.st_size), 'z'));
  install::Objects again(t / "dest/objects", install::LinkMode::automatic);
  again.load();
  EXPECT_FALSE(again.has(f1)) << "its stat no longer matches the record";
  // The content is received again: the object is made anew, and trusted.
  const auto v2 = project(t / "v1/p", 3); // the source is unchanged
  install::Store store(t / "dest");
  EXPECT_NE(store.changed(v1.tree.tree_hash), "") << "the environment is repaired, not reused";
  const auto r2 = test::install_locally(v2, t / "dest");
  EXPECT_EQ(r2.repaired, "p/f1: changed since it was installed");
  install::Objects third(t / "dest/objects", install::LinkMode::automatic);
  third.load();
  EXPECT_TRUE(third.has(f1));
}

TEST(Objects, SameSizeAndMtimeButAnotherInodeIsNotTrusted) {
  TempDir t;
  const auto v1 = project(t / "v1/p", 3);
  test::install_locally(v1, t / "dest");
  install::Objects objects(t / "dest/objects", install::LinkMode::automatic);
  objects.load();
  const hash::Hash128 f1 = hash_of(v1, "p/f1");
  const fs::path object = objects.path_of({f1, false});
  const struct stat st = stat_of(object);
  // Replaced by another file with the same size and times (a restore, a
  // copy with -p): the record's inode says it is not the object made.
  const fs::path other = t / "other";
  write(other, std::string(static_cast<size_t>(st.st_size), 'q'));
  const struct timespec times[2] = {st.st_mtim, st.st_mtim};
  ::utimensat(AT_FDCWD, other.c_str(), times, 0);
  ::chmod(other.c_str(), 0444);
  ASSERT_EQ(::rename(other.c_str(), object.c_str()), 0);
  EXPECT_FALSE(objects.has(f1));
}

TEST(Objects, AnEnvironmentWithAChangedFileIsRepairedNotReused) {
  TempDir t;
  const auto v1 = project(t / "v1/p", 3);
  auto r1 = test::install_locally(v1, t / "dest");
  install::Store store(t / "dest");
  EXPECT_EQ(store.changed(v1.tree.tree_hash), "");
  const fs::path f1 = r1.dir / "p/f1";
  ::chmod(f1.c_str(), 0644);
  write(f1, "edited in place");
  r1.in_use.reset();
  EXPECT_EQ(store.changed(v1.tree.tree_hash), "p/f1: changed since it was installed");
  const auto again = test::install_locally(v1, t / "dest");
  EXPECT_FALSE(again.reused);
  EXPECT_EQ(again.repaired, "p/f1: changed since it was installed");
  EXPECT_EQ(store.changed(v1.tree.tree_hash), "");
  std::string content;
  std::ifstream(f1.string()) >> content;
  EXPECT_EQ(content.substr(0, 4), "bbbb") << "the file holds what was shipped again";
}

TEST(Objects, CopyModeInstallsWritableFilesApart) {
  TempDir t;
  const auto v1 = project(t / "v1/p", 3);
  install::Store store(t / "dest");
  store.set_link_mode(install::LinkMode::copy);
  test::MemoryChunks chunks;
  pack::pack_tree(v1.tree, chunks, {});
  const auto r = store.install(v1.tree.tree_hash, v1.tree.bytes, chunks);
  EXPECT_EQ(r.dir.filename().string(), v1.tree.tree_hash.hex() + ".w");
  const struct stat st = stat_of(r.dir / "p/f1");
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  install::Objects objects(t / "dest/objects", install::LinkMode::copy);
  objects.load();
  ASSERT_TRUE(objects.has(hash_of(v1, "p/f1")));
  EXPECT_NE(stat_of(objects.path_of({hash_of(v1, "p/f1"), false})).st_ino, st.st_ino)
      << "a worker writing its copy cannot change the object";
}

TEST(Objects, GcRemovesObjectsNoEnvironmentUses) {
  TempDir t;
  const auto v1 = project(t / "v1/p", 3);
  const auto v2 = project(t / "v2/p", 3, "changed");
  test::install_locally(v1, t / "dest");
  test::install_locally(v2, t / "dest");
  install::Store store(t / "dest");
  fs::last_write_time(store.path_of(v1.tree.tree_hash), std::time(nullptr) - 100); // v1 used longest ago
  const auto c = store.collect(1);
  EXPECT_EQ(c.removed, std::vector<std::string>{v1.tree.tree_hash.hex()});
  EXPECT_GE(c.object_bytes_freed, 4096u) << "v1's f0, which v2 does not use";
  install::Objects objects(t / "dest/objects", install::LinkMode::automatic);
  objects.load();
  EXPECT_FALSE(objects.has(hash_of(v1, "p/f0")));
  for (const auto& e : v2.tree.entries)
    if (e.type == hash::EntryType::file)
      EXPECT_TRUE(objects.has(e.hash)) << e.path;
}

TEST(Objects, MutableFilesArePrivateWritableCopiesAndMayChange) {
  TempDir t;
  write(t / "v1/p/distenv.toml", "mutable = [\"state/\", \"*.csv\"]\n");
  write(t / "v1/p/state/counter", "0");
  write(t / "v1/p/results.csv", "a,b");
  write(t / "v1/p/code.jl", "f() = 1");
  const auto v1 = test::plan(t / "v1/p");
  auto r = test::install_locally(v1, t / "dest", 64 << 10, install::LinkMode::hardlink);
  install::Objects objects(t / "dest/objects", install::LinkMode::hardlink);
  objects.load();
  for (const char* f : {"p/state/counter", "p/results.csv"}) {
    const struct stat st = stat_of(r.dir / f);
    EXPECT_EQ(st.st_mode & 07777, 0644u) << f << ": writable";
    ASSERT_TRUE(objects.has(hash_of(v1, f))) << f;
    EXPECT_NE(st.st_ino, stat_of(objects.path_of({hash_of(v1, f), false})).st_ino) << f << ": not the object";
  }
  EXPECT_EQ(stat_of(r.dir / "p/code.jl").st_mode & 07777, 0444u) << "the rest stays read-only";
  // The job updates its state in place: the environment is still intact.
  write(r.dir / "p/state/counter", "1");
  r.in_use.reset();
  install::Store store(t / "dest");
  EXPECT_EQ(store.changed(v1.tree.tree_hash), "");
  EXPECT_TRUE(test::install_locally(v1, t / "dest").reused);
  install::Objects again(t / "dest/objects", install::LinkMode::hardlink);
  again.load();
  EXPECT_TRUE(again.has(hash_of(v1, "p/state/counter"))) << "the object kept what was shipped";
}
