// A new version made from the listing: in place from the previous one, or
// new from the objects; the listing checked as an archive's entries are.
#include <distenv/install/assemble.hpp>
#include <distenv/install/env_index.hpp>
#include <distenv/install/listing.hpp>
#include <distenv/install/store.hpp>
#include <distenv/pack/archive_writer.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include "support/memory_chunks.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

ino_t inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

// Installs `p` into the store at `dest` as a job does: its listing, and a
// stream of the contents the store has no object of.
install::Store::Result assemble(const test::Planned& p, const fs::path& dest,
                                std::optional<hash::Hash128> base = {}) {
  install::Store store(dest);
  store.set_link_mode(install::LinkMode::hardlink);
  store.open();
  install::Objects objects(store.objects_dir(), store.link_mode());
  objects.load();
  test::MemoryChunks chunks;
  pack::PackOptions po;
  po.chunk_size = 4096;
  po.contents_only = true;
  po.send = [&](const hash::Hash128& h) { return !objects.has(h); };
  pack::pack_tree(p.tree, chunks, po);
  install::Store::Result r =
      store.assemble(p.tree.tree_hash, install::listing_of(p.tree), base, p.tree.bytes, chunks);
  r.in_use.reset(); // the job that installed it has ended
  return r;
}

std::string slurp(const fs::path& p) {
  return read_file(p, 1 << 20, Follow::no);
}

} // namespace

TEST(Listing, RoundTripsAndIsCheckedAsAnArchiveIs) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  write(t / "p/src/a.jl", "a");
  fs::create_symlink("src/a.jl", t / "p/link");
  const test::Planned p = test::plan(t / "p");
  const install::Listing l = install::listing_of(p.tree);
  const install::Listing back = install::decode_listing(install::encode_listing(l));
  ASSERT_EQ(back.size(), l.size());
  std::vector<hash::TreeRecord> records;
  for (size_t i = 0; i < l.size(); ++i) {
    EXPECT_EQ(back[i].path, l[i].path);
    EXPECT_EQ(back[i].target, l[i].target);
    records.push_back(back[i].record());
  }
  EXPECT_EQ(hash::tree_hash(records), p.tree.tree_hash) << "the listing describes the tree exactly";

  auto refused = [](install::Listing bad, const std::string& why) {
    try {
      install::decode_listing(install::encode_listing(bad));
      ADD_FAILURE() << "accepted: " << why;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  install::Listed dir{"d", hash::EntryType::directory};
  install::Listed up{"d/../../etc/passwd"};
  refused({dir, up}, "'..'");
  refused({install::Listed{"b"}, install::Listed{"a"}}, "out of order");
  install::Listed out{"d/l", hash::EntryType::symlink};
  out.target = "../../etc";
  refused({dir, out}, "d/l");
  install::Listed in{"d/l", hash::EntryType::symlink};
  in.target = ".";
  refused({dir, in, install::Listed{"d/l/x"}}, "below the symlink");
  refused({install::Listed{"nodir/x"}}, "its directory is not listed");
  std::string truncated = install::encode_listing(l);
  truncated.resize(truncated.size() - 3);
  EXPECT_THROW(install::decode_listing(truncated), InputError);
}

// Every kind of change, made in place: what stayed keeps its inode, what
// changed is new, what went is gone, a worker's stray file where the new
// version needs the path is replaced, a mutable file is reset; the tree is
// the one a fresh install makes, and the old version is gone.
TEST(Assemble, TheNextVersionIsMadeInPlace) {
  TempDir t;
  const fs::path src = t / "p";
  write(src / "distenv.toml", "mutable = [\"state.txt\"]\n");
  write(src / "same.txt", "same");
  write(src / "changed.txt", "v1");
  write(src / "gone.txt", "bye");
  write(src / "olddir/x.txt", "x");
  write(src / "becomes_dir", "a file");
  write(src / "state.txt", "initial");
  fs::create_symlink("same.txt", src / "link");
  const test::Planned v1 = test::plan(src);
  const install::Store::Result r1 = assemble(v1, t / "dest");
  EXPECT_FALSE(r1.in_place);
  const fs::path root1 = r1.dir / "p";
  const ino_t same_inode = inode(root1 / "same.txt");
  write(root1 / "state.txt", "the job's state"); // mutable: the job writes it
  write(root1 / "stray/new.txt", "a worker wrote this");

  write(src / "changed.txt", "v2");
  fs::remove(src / "gone.txt");
  fs::remove_all(src / "olddir");
  fs::remove(src / "becomes_dir");
  write(src / "becomes_dir/inside.txt", "now a directory");
  write(src / "stray/new.txt", "the project's own");
  fs::remove(src / "link");
  fs::create_symlink("changed.txt", src / "link");
  ::chmod((src / "same.txt").c_str(), 0755); // a mode change is a new entry too
  write(src / "same2.txt", "same");          // a content the base has, at a new path
  const test::Planned v2 = test::plan(src);
  const install::Store::Result r2 = assemble(v2, t / "dest", v1.tree.tree_hash);
  EXPECT_TRUE(r2.in_place);
  EXPECT_EQ(r2.tree_hash, v2.tree.tree_hash);
  EXPECT_FALSE(fs::exists(r1.dir)) << "the previous version became this one";
  EXPECT_FALSE(fs::exists(fs::path(r1.dir.string() + ".files")));
  const fs::path root = r2.dir / "p";
  EXPECT_EQ(slurp(root / "changed.txt"), "v2");
  EXPECT_FALSE(fs::exists(root / "gone.txt"));
  EXPECT_FALSE(fs::exists(root / "olddir"));
  EXPECT_EQ(slurp(root / "becomes_dir/inside.txt"), "now a directory");
  EXPECT_EQ(slurp(root / "stray/new.txt"), "the project's own");
  EXPECT_EQ(fs::read_symlink(root / "link"), "changed.txt");
  EXPECT_EQ(slurp(root / "state.txt"), "initial") << "a mutable file starts over with a new version";
  EXPECT_EQ(slurp(root / "same2.txt"), "same");
  EXPECT_TRUE(fs::status(root / "same.txt").permissions() & fs::owner_exe);
  EXPECT_NE(inode(root / "same.txt"), same_inode) << "another mode, another object";
  // A fresh store makes the same tree; the in-place one passes its checks.
  const install::Store::Result fresh = assemble(v2, t / "fresh");
  EXPECT_EQ(fresh.tree_hash, r2.tree_hash);
  install::Store store(t / "dest");
  EXPECT_EQ(store.verify(r2.tree_hash), "");
  EXPECT_TRUE(install::index_complete(slurp(store.index_of(r2.tree_hash))));

  // One file changes: the others stay as they were (inode and mtime).
  const ino_t kept = inode(root / "same2.txt");
  write(src / "changed.txt", "v3");
  const install::Store::Result r3 = assemble(test::plan(src), t / "dest", v2.tree.tree_hash);
  EXPECT_TRUE(r3.in_place);
  EXPECT_EQ(inode(r3.dir / "p/same2.txt"), kept);
  EXPECT_EQ(r3.bytes_written, r3.kept_bytes + r3.local_bytes + 2) << "2 bytes came in the stream";
}

// A job uses the previous version: it is left as it is, and the new one is
// made beside it from the objects.
TEST(Assemble, APreviousVersionInUseIsLeftAlone) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  write(t / "p/a.txt", "1");
  write(t / "p/b.txt", "b");
  const test::Planned v1 = test::plan(t / "p");
  const install::Store::Result r1 = assemble(v1, t / "dest");
  install::Store store(t / "dest");
  const install::Store::InUse held(store, v1.tree.tree_hash);
  write(t / "p/a.txt", "2");
  const install::Store::Result r2 = assemble(test::plan(t / "p"), t / "dest", v1.tree.tree_hash);
  EXPECT_FALSE(r2.in_place);
  EXPECT_EQ(slurp(r1.dir / "p/a.txt"), "1");
  EXPECT_EQ(slurp(r2.dir / "p/a.txt"), "2");
  EXPECT_EQ(inode(r1.dir / "p/b.txt"), inode(r2.dir / "p/b.txt")) << "linked from the same object";
}

// A stream that breaks off: the previous version is gone (it was becoming
// the new one), nothing is trusted, and the next run installs the new one.
TEST(Assemble, AnInterruptedInstallLeavesNothingTrusted) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  std::mt19937_64 random(7);
  auto noise = [&] { // incompressible: the stream is many chunks
    std::string s(10000, '\0');
    for (char& c : s)
      c = static_cast<char>(random());
    return s;
  };
  for (int i = 0; i < 20; ++i)
    write(t / "p" / ("f" + std::to_string(i)), noise());
  const test::Planned v1 = test::plan(t / "p");
  assemble(v1, t / "dest");
  const std::string f2 = noise();
  for (int i = 0; i < 20; i += 2)
    write(t / "p" / ("f" + std::to_string(i)), i == 2 ? f2 : noise());
  const test::Planned v2 = test::plan(t / "p");
  install::Store store(t / "dest");
  store.set_link_mode(install::LinkMode::hardlink);
  test::MemoryChunks chunks;
  pack::PackOptions po;
  po.chunk_size = 4096;
  po.contents_only = true;
  po.zstd_level = 1;
  pack::pack_tree(v2.tree, chunks, po);
  test::MemoryChunks cut;
  for (int i = 0; i < 2; ++i) // the first two chunks only, then the end
    cut.put(chunks.next());
  EXPECT_THROW(store.assemble(v2.tree.tree_hash, install::listing_of(v2.tree), v1.tree.tree_hash, 0, cut),
               Error);
  EXPECT_FALSE(store.has(v2.tree.tree_hash));
  size_t left = 0;
  for (fs::directory_iterator it(store.envs_dir()), end; it != end; ++it)
    left += it->path().filename().string().rfind(".incoming", 0) == 0;
  EXPECT_EQ(left, 0u) << "nothing half-made is left";
  const install::Store::Result again = assemble(v2, t / "dest", v1.tree.tree_hash);
  EXPECT_EQ(again.tree_hash, v2.tree.tree_hash);
  EXPECT_EQ(slurp(again.dir / "p/f2"), f2);
}

// A job that waited for the previous version while it became the next one
// does not run the next one as if it were the previous (Store::InUse looks
// again once it holds the lock).
TEST(Assemble, AJobWaitingForTheBaseSeesItIsGone) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  const test::Planned v1 = test::plan(t / "p");
  const install::Store::Result r1 = assemble(v1, t / "dest");
  install::Store store(t / "dest");
  // What Store::assemble does to a base: an exclusive flock, then a rename.
  Fd claim(::open(r1.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_EQ(::flock(claim.get(), LOCK_EX | LOCK_NB), 0);
  std::string failure;
  std::thread job([&] {
    try {
      install::Store::InUse use(store, v1.tree.tree_hash);
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  // Until the job waits for the lock (a blocked request in /proc/locks).
  while (read_file("/proc/locks", 1 << 20, Follow::yes).find("->") == std::string::npos)
    std::this_thread::yield();
  fs::rename(r1.dir, t / "dest/envs/.incoming-next");
  claim.reset();
  job.join();
  EXPECT_NE(failure.find("replaced while this job waited for it"), std::string::npos) << failure;
}
