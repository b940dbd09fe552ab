// The node-local store: reuse, space check, stale temporaries, and two
// processes installing the same environment at once.
#include "support/errors.hpp"
#include "support/memory_chunks.hpp"
#include <distenv/install/file_lock.hpp>
#include <distenv/install/objects.hpp>
#include <distenv/install/store.hpp>
#include <distenv/pack/archive_writer.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <functional>
#include <optional>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

// A source that must not be read.
struct Untouchable : pack::ChunkSource {
  pack::Bytes next() override {
    ADD_FAILURE() << "source read although the environment was installed";
    return {};
  }
};

// The tree hash of what is on disk under `root`, computed from scratch.
hash::Hash128 hash_on_disk(const fs::path& root) {
  std::vector<hash::TreeRecord> records;
  for (fs::recursive_directory_iterator it(root), end; it != end; ++it) {
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    hash::TreeRecord r;
    r.path = it->path().lexically_relative(root).generic_string();
    r.mode = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) {
      r.type = hash::EntryType::directory;
    } else if (S_ISLNK(st.st_mode)) {
      r.type = hash::EntryType::symlink;
      std::string target = fs::read_symlink(it->path()).string();
      r.mode = 0777;
      r.size = target.size();
      r.content = hash::hash_bytes(target);
    } else {
      r.type = hash::EntryType::file;
      r.mode = st.st_mode & 0111 ? 0755 : 0644; // installed read-only; the identity has git's modes
      r.content = hash::hash_file(it->path(), r.size);
    }
    records.push_back(r);
  }
  return hash::tree_hash(records);
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir), end; it != end; ++it)
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

TEST(Store, InstallsVerifiesAndReuses) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  auto p = test::plan(t / "home/u/proj");
  install::Store store(t / "dest");
  EXPECT_FALSE(store.has(p.tree.tree_hash));
  auto r = test::install_locally(p, t / "dest");
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(r.dir, store.path_of(p.tree.tree_hash));
  EXPECT_TRUE(store.has(p.tree.tree_hash));
  EXPECT_EQ(hash_on_disk(r.dir), p.tree.tree_hash);
  EXPECT_EQ(r.bytes_written, p.tree.bytes);

  Untouchable untouched;
  auto again = store.install(p.tree.tree_hash, p.tree.bytes, untouched);
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.dir, r.dir);
}

TEST(Store, StreamThatIsNotTheExpectedEnvironmentIsRefusedAndLeavesNothing) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  auto p = test::plan(t / "home/u/proj");
  test::MemoryChunks chunks;
  pack::pack_tree(p.tree, chunks, {4096, 3, 0});
  const hash::Hash128 other = hash::hash_bytes("another environment");
  try {
    install::Store(t / "dest").install(other, p.tree.bytes, chunks);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "received environment does not match its hash: expected " + other.hex() +
                                         ", got " + p.tree.tree_hash.hex());
  }
  EXPECT_EQ(listing(t / "dest/envs"), std::vector<std::string>{".lock"});
}

TEST(Store, NotEnoughSpace) {
  TempDir t;
  install::Store store(t / "dest");
  Untouchable untouched;
  try {
    store.install(hash::hash_bytes("x"), uint64_t(1) << 60, untouched);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("not enough space in " + (t / "dest/envs").string() + ": need 1.0 EiB", 0), 0u) << m;
    EXPECT_NE(m.find(" free"), std::string::npos);
  }
  EXPECT_EQ(listing(t / "dest/envs"), std::vector<std::string>{".lock"});
}

TEST(Store, AnInstallWaitingForTheLockGivesUpNamingTheHolder) {
  TempDir t;
  install::Store store(t / "dest");
  store.open();
  const install::FileLock held(store.envs_dir() / ".lock"); // another job, stopped mid-install
  store.set_lock_timeout(0.2);
  test::MemoryChunks chunks;
  const std::string why = test::error_of([&] { store.install(hash::hash_bytes("x"), 0, chunks); });
  EXPECT_EQ(why,
            fmt::format("{}: held by pid {} on {} for more than 0.2 s; another job is installing into or "
                        "cleaning this store (it may be stopped); --lock-timeout says how long to wait",
                        fs::canonical(store.envs_dir() / ".lock").string(), ::getpid(), machine_name()));
}

TEST(Store, AStoppedHolderOfTheLockIsNamedAtOnce) {
  TempDir t;
  const fs::path lock = t / ".lock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = ::fork();
  if (holder == 0) { // another job: takes the lock, then is stopped mid-install
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0)
      ::_exit(1);
    (void)!::write(ready[1], "x", 1);
    for (;;)
      ::pause();
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::kill(holder, SIGSTOP);
  int status = 0;
  ASSERT_EQ(::waitpid(holder, &status, WUNTRACED), holder); // stopped: the kernel says so
  ASSERT_TRUE(WIFSTOPPED(status));
  const std::string why = test::error_of([&] { install::FileLock(lock, 600, 0.01); });
  ::kill(holder, SIGKILL);
  ::waitpid(holder, &status, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_EQ(
      why, fmt::format("{}: held by pid {} on {}, which is stopped (SIGSTOP, a suspended job or a debugger) "
                       "and will not let go while it is: resume it (kill -CONT {}) or end it, then run again",
                       lock.string(), holder, machine_name(), holder));
}

TEST(Store, StaleIncomingFromACrashIsRemoved) {
  TempDir t;
  test::copy_fixture("julia-v1", t.path());
  auto p = test::plan(t / "proj");
  write(t / "dest/envs/.incoming-deadbeef-12345/half-written", "x");
  auto r = test::install_locally(p, t / "dest");
  EXPECT_EQ(listing(t / "dest/envs"), (std::vector<std::string>{".lock", ".used", p.tree.tree_hash.hex(),
                                                                p.tree.tree_hash.hex() + ".files"}));
  EXPECT_EQ(hash_on_disk(r.dir), p.tree.tree_hash);
}

TEST(Store, ConcurrentInstallersEndWithOneIntactInstall) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  for (int i = 0; i < 400; ++i)
    write(t / ("p/d" + std::to_string(i % 9) + "/f" + std::to_string(i)),
          std::string(5000 + i, 'a' + i % 26));
  auto p = test::plan(t / "p");
  test::MemoryChunks chunks;
  pack::pack_tree(p.tree, chunks, {8192, 3, 0});

  constexpr int k_processes = 4;
  int pipes[k_processes][2];
  pid_t pids[k_processes];
  for (int i = 0; i < k_processes; ++i) {
    ASSERT_EQ(::pipe(pipes[i]), 0);
    pids[i] = ::fork();
    ASSERT_GE(pids[i], 0);
    if (pids[i] == 0) {
      int code = 0;
      try {
        auto r = install::Store(t / "dest").install(p.tree.tree_hash, p.tree.bytes, chunks);
        code = r.reused ? 1 : 2;
      } catch (...) {
        code = 3;
      }
      char c = static_cast<char>(code);
      (void)!::write(pipes[i][1], &c, 1);
      ::_exit(0);
    }
    ::close(pipes[i][1]);
  }
  int fresh = 0, reused = 0;
  for (int i = 0; i < k_processes; ++i) {
    char c = 0;
    ASSERT_EQ(::read(pipes[i][0], &c, 1), 1);
    ::close(pipes[i][0]);
    int status = 0;
    ::waitpid(pids[i], &status, 0);
    ASSERT_NE(c, 3) << "installer " << i << " failed";
    (c == 2 ? fresh : reused)++;
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(reused, k_processes - 1);
  EXPECT_EQ(listing(t / "dest/envs"), (std::vector<std::string>{".lock", ".used", p.tree.tree_hash.hex(),
                                                                p.tree.tree_hash.hex() + ".files"}));
  EXPECT_EQ(hash_on_disk(install::Store(t / "dest").path_of(p.tree.tree_hash)), p.tree.tree_hash);
}

TEST(Store, GcLeavesTheObjectsAJobCountsOnUntilItsInstallIsDone) {
  TempDir t;
  install::Store store(t / "dest");
  write(t / "p0/distenv.toml", "");
  write(t / "p0/data", std::string(1000, 'a'));
  const auto p = test::plan(t / "p0");
  test::install_locally(p, t / "dest");
  const hash::Hash128 data = hash::hash_bytes(std::string(1000, 'a'));
  // A job's check counts on the object (its environment is gone meanwhile).
  install::Objects held(store.objects_dir(), install::LinkMode::automatic);
  held.hold();
  held.load();
  ASSERT_TRUE(held.has(data));
  const auto during = store.collect(0);
  EXPECT_EQ(during.removed, std::vector<std::string>{p.tree.tree_hash.hex()}) << "environments go";
  EXPECT_TRUE(during.objects_busy);
  EXPECT_TRUE(held.has(data)) << "the object stays while the job may link it";
  held.~Objects();
  new (&held) install::Objects(store.objects_dir(), install::LinkMode::automatic);
  const auto after = store.collect(0);
  EXPECT_FALSE(after.objects_busy);
  EXPECT_GE(after.object_bytes_freed, 1000u);
  install::Objects again(store.objects_dir(), install::LinkMode::automatic);
  again.load();
  EXPECT_FALSE(again.has(data));
}

// When a job last used `tree`, as its record says (Store::InUse writes the
// time in ns into it; an empty one counts by its mtime).
void set_used(const install::Store& store, const hash::Hash128& tree, std::time_t when) {
  const fs::path record = store.envs_dir() / ".used" / tree.hex();
  fs::create_directories(record.parent_path());
  write(record, ""); // no time inside: its mtime says
  fs::last_write_time(record, when);
}

TEST(Store, CollectKeepsTheMostRecentlyUsedAndThoseInUse) {
  TempDir t;
  install::Store store(t / "dest");
  std::vector<hash::Hash128> trees;
  std::vector<std::time_t> used;
  for (int i = 0; i < 4; ++i) {
    write(t / ("p" + std::to_string(i) + "/distenv.toml"), "");
    write(t / ("p" + std::to_string(i) + "/data"), std::string(1000, 'a' + i));
    auto p = test::plan(t / ("p" + std::to_string(i)));
    test::install_locally(p, t / "dest");
    trees.push_back(p.tree.tree_hash);
    // used in order 0, 1, 2, 3: 3 is the most recent
    used.push_back(std::time(nullptr) - 1000 + i * 10);
    set_used(store, p.tree.tree_hash, used.back());
  }
  std::optional<install::Store::InUse> busy;
  busy.emplace(store, trees[0]);                        // a job runs with the oldest: marks it used now
  set_used(store, trees[0], std::time(nullptr) - 5000); // and pretend it is old
  const auto dry = store.collect(2, true);              // says what it would do, does nothing
  EXPECT_EQ(dry.removed, std::vector<std::string>{trees[1].hex()});
  EXPECT_EQ(dry.busy, std::vector<std::string>{trees[0].hex()});
  EXPECT_GE(dry.bytes_freed, 1000u);
  EXPECT_TRUE(store.has(trees[1]));
  auto c = store.collect(2);
  ASSERT_EQ(c.removed_used.size(), 1u);
  EXPECT_EQ(c.removed_used[0], used[1]) << "when the removed environment was last used";
  EXPECT_EQ(c.kept, (std::vector<std::string>{trees[3].hex(), trees[2].hex()}));
  EXPECT_EQ(c.removed, std::vector<std::string>{trees[1].hex()});
  EXPECT_EQ(c.busy, std::vector<std::string>{trees[0].hex()});
  EXPECT_GE(c.bytes_freed, 1000u);
  EXPECT_FALSE(store.has(trees[1]));
  EXPECT_TRUE(store.has(trees[0]));
  busy.reset();
  auto again = store.collect(2);
  EXPECT_EQ(again.removed, std::vector<std::string>{trees[0].hex()});
  // each environment with its content index; the removed ones' indexes went too
  std::vector<std::string> left{
      ".lock", ".used", trees[2].hex(), trees[2].hex() + ".files", trees[3].hex(), trees[3].hex() + ".files"};
  std::sort(left.begin(), left.end());
  EXPECT_EQ(listing(t / "dest/envs"), left);
}

// ---- Trust: what runs as the user comes only from what the user (or root)
// could have written (ssh's StrictModes). Handing directories to another
// uid needs root; without it these are skipped, saying so.

namespace {

std::string refusal(install::Store& store, const std::function<void()>& use = {}) {
  return test::error_of<InputError>([&] { use ? use() : (void)store.identity(); }, "accepted");
}

#define NEED_ROOT()                                                                                          \
  if (::geteuid() != 0)                                                                                      \
  GTEST_SKIP() << "needs root to hand directories to another uid"

} // namespace

TEST(StoreTrust, ANewStoreIsPrivateWhateverTheUmask) {
  TempDir t;
  const mode_t old = ::umask(0);
  install::Store store(t / "a/dest");
  store.identity();
  ::umask(old);
  struct stat st {};
  ::stat((t / "a/dest").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ::stat((t / "a/dest/envs").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST(StoreTrust, AFifoOrSymlinkWhereTheStoreIdShouldBeFailsAtOnce) {
  TempDir t;
  install::Store store(t / "dest");
  store.open();
  const fs::path id = store.envs_dir() / ".store-id";
  ASSERT_EQ(::mkfifo(id.c_str(), 0600), 0); // reading it would wait for a writer forever
  EXPECT_EQ(test::error_of([&] { store.identity(); }), id.string() + ": not a regular file");
  fs::remove(id);
  fs::create_symlink(t / "elsewhere", id);
  EXPECT_EQ(test::error_of([&] { store.identity(); }), id.string() + ": a symlink where a file should be");
}

TEST(StoreTrust, AnEnvironmentOpenedUpAfterItsInstallIsRefused) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  write(t / "p/lib/tool.sh", "echo hi\n");
  const auto p = test::plan(t / "p");
  test::install_locally(p, t / "dest");
  install::Store store(t / "dest");
  EXPECT_NO_THROW(store.check_contents_trusted(p.tree.tree_hash));
  const fs::path lib = store.path_of(p.tree.tree_hash) / "p/lib";
  ::chmod(lib.c_str(), 0777); // a worker's chmod -R a+w
  const std::string why = test::error_of<InputError>([&] { store.check_contents_trusted(p.tree.tree_hash); });
  EXPECT_EQ(why.rfind(lib.string() + ": writable by others (mode 0777) inside an installed environment", 0),
            0u)
      << why;
  ::chmod(lib.c_str(), 0755);
  ::chmod((lib / "tool.sh").c_str(), 0646);
  EXPECT_NE(test::error_of<InputError>([&] { store.check_contents_trusted(p.tree.tree_hash); }), "no error");
  test::MemoryChunks none; // reusing it for a job refuses it too
  EXPECT_NE(test::error_of<InputError>([&] { store.install(p.tree.tree_hash, 0, none); }), "no error");
}

TEST(StoreTrust, AStoreAnotherUserMadeIsRefused) {
  NEED_ROOT();
  TempDir t;
  fs::create_directories(t / "dest/envs");
  ASSERT_EQ(::chown((t / "dest").c_str(), 4242, 4242), 0);
  install::Store store(t / "dest");
  EXPECT_EQ(refusal(store),
            (t / "dest").string() +
                ": owned by uid 4242, not by you or root: another user may have put it there; "
                "remove it, or choose another --dest");
}

TEST(StoreTrust, APoisonedEnvironmentIsRefusedNotRun) {
  NEED_ROOT();
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  auto p = test::plan(t / "home/u/proj");
  auto r = test::install_locally(p, t / "dest");
  install::Store store(t / "dest");
  ASSERT_EQ(::chown(r.dir.c_str(), 4242, 4242), 0);
  EXPECT_EQ(refusal(store, [&] { store.has(p.tree.tree_hash); }),
            r.dir.string() +
                ": owned by uid 4242, not by you or root: another user may have put it there; remove "
                "it, or choose another --dest");
  ASSERT_EQ(::chown(r.dir.c_str(), 0, 0), 0);
  ::chmod(r.dir.c_str(), 0777);
  EXPECT_EQ(refusal(store, [&] { store.has(p.tree.tree_hash); }),
            r.dir.string() +
                ": writable by others (mode 0777): another user could change what your jobs run; chmod "
                "go-w " +
                r.dir.string() + ", or pass --shared-store if your group shares this store");
  ::chmod(r.dir.c_str(), 0755);
  EXPECT_TRUE(store.has(p.tree.tree_hash));
  // A symlink in its place (to anywhere) is never an environment.
  fs::rename(r.dir, t / "moved");
  fs::create_directory_symlink(t / "moved", r.dir);
  EXPECT_EQ(refusal(store, [&] { store.has(p.tree.tree_hash); }),
            r.dir.string() +
                ": a symlink where the store keeps a directory: another user may have put it there; "
                "remove it");
}

TEST(StoreTrust, ADestSymlinkIsFollowedOnlyWhenItIsOurs) {
  NEED_ROOT();
  TempDir t;
  fs::create_directories(t / "real");
  fs::create_directory_symlink(t / "real", t / "dest");
  install::Store store(t / "dest");
  EXPECT_EQ(refusal(store), "accepted");
  ASSERT_EQ(::lchown((t / "dest").c_str(), 4242, 4242), 0);
  EXPECT_EQ(refusal(store),
            (t / "dest").string() +
                ": a symlink owned by uid 4242, not by you or root: another user may have put it "
                "there; remove it, or choose another --dest");
}

TEST(StoreTrust, AParentOthersCanWriteWithoutTheStickyBitIsRefused) {
  TempDir t;
  fs::create_directories(t / "open");
  ::chmod((t / "open").c_str(), 0777);
  install::Store store(t / "open/dest");
  EXPECT_EQ(refusal(store),
            (t / "open/dest").string() + ": " + (t / "open").string() +
                " is writable by everyone without the sticky bit: another user could replace the "
                "store; choose another --dest");
  ::chmod((t / "open").c_str(), 01777); // like /tmp
  EXPECT_EQ(refusal(store), "accepted");
}

TEST(StoreTrust, AGroupStoreIsTrustedOnlyWhenAskedFor) {
  NEED_ROOT();
  TempDir t;
  fs::create_directories(t / "dest/envs");
  ::chmod((t / "dest").c_str(), 02770);
  ::chmod((t / "dest/envs").c_str(), 02775);
  ASSERT_EQ(::chown((t / "dest").c_str(), 0, 4343), 0);
  ASSERT_EQ(::chown((t / "dest/envs").c_str(), 4242, 4343), 0); // made by another member of the group
  install::Store mine(t / "dest");
  EXPECT_EQ(refusal(mine),
            (t / "dest").string() +
                ": writable by others (mode 2770): another user could change what your jobs run; "
                "chmod go-w " +
                (t / "dest").string() + ", or pass --shared-store if your group shares this store");
  install::Store shared(t / "dest", install::Store::Sharing::group);
  EXPECT_EQ(refusal(shared), "accepted");
  ::chmod((t / "dest/envs").c_str(), 0777);
  EXPECT_EQ(refusal(shared),
            (t / "dest/envs").string() +
                ": writable by others (mode 0777): another user could change what your jobs run; "
                "chmod o-w " +
                (t / "dest/envs").string());
}

TEST(FileChunkSink, AStreamThatDoesNotEndLeavesNothing) {
  TempDir t;
  {
    pack::FileChunkSink sink(t / "env.tar.zst");
    sink.put(pack::Bytes(reinterpret_cast<const std::byte*>("abc"), 3));
  } // destroyed without close(): the pack failed
  EXPECT_EQ(test::count_entries(t.path()), 0u);
  {
    pack::FileChunkSink sink(t / "env.tar.zst");
    sink.put(pack::Bytes(reinterpret_cast<const std::byte*>("abc"), 3));
    sink.close();
  }
  EXPECT_EQ(test::slurp(t / "env.tar.zst"), "abc");
  EXPECT_EQ(test::count_entries(t.path()), 1u);
}
