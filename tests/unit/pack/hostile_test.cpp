// Crafted archives must be refused, naming the entry, with nothing installed.
#include "support/errors.hpp"
#include "support/memory_chunks.hpp"
#include <distenv/install/store.hpp>
#include <distenv/pack/archive_reader.hpp>
#include <distenv/util/error.hpp>

#include "support/temp_dir.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>
#include <zstd.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace distenv;
using distenv::test::TempDir;
namespace fs = boost::filesystem;

namespace {

struct Crafted {
  std::string path;
  mode_t type = AE_IFREG;
  unsigned mode = 0644;
  std::string content;
  std::string link;     // symlink target
  std::string hardlink; // hard link target
};

la_ssize_t to_chunks(struct archive*, void* client, const void* buf, size_t len) {
  static_cast<test::MemoryChunks*>(client)->put(pack::Bytes(static_cast<const std::byte*>(buf), len));
  return static_cast<la_ssize_t>(len);
}

// A tar+zstd stream with exactly these entries, written by libarchive itself.
test::MemoryChunks craft(const std::vector<Crafted>& entries) {
  test::MemoryChunks chunks;
  struct archive* a = archive_write_new();
  archive_write_add_filter_zstd(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 0);
  archive_write_open2(a, &chunks, nullptr, to_chunks, nullptr, nullptr);
  for (const Crafted& c : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, c.path.c_str());
    archive_entry_set_filetype(e, c.type);
    archive_entry_set_perm(e, c.mode);
    if (!c.link.empty())
      archive_entry_set_symlink(e, c.link.c_str());
    if (!c.hardlink.empty())
      archive_entry_set_hardlink(e, c.hardlink.c_str());
    if (c.type == AE_IFCHR)
      archive_entry_set_rdev(e, makedev(1, 3));
    archive_entry_set_size(e, static_cast<la_int64_t>(c.content.size()));
    archive_write_header(a, e);
    if (!c.content.empty())
      archive_write_data(a, c.content.data(), c.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return chunks;
}

int last_exit_code = 0; // of the last refusal

// Installs the crafted stream; returns the error and checks nothing stayed.
std::string refused(const std::vector<Crafted>& entries) {
  TempDir t;
  test::MemoryChunks chunks = craft(entries);
  install::Store store(t / "dest");
  const auto expected = hash::hash_bytes("whatever");
  const std::string message = test::error_of(
      [&] {
        try {
          store.install(expected, 0, chunks);
        } catch (const Error& e) {
          last_exit_code = e.exit_code();
          throw;
        }
      },
      "accepted");
  // Only the store's lock file is left: no install, no temporary directory.
  std::vector<std::string> left;
  for (fs::directory_iterator it(store.envs_dir()), end; it != end; ++it)
    left.push_back(it->path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{".lock"});
  EXPECT_FALSE(fs::exists(t / "evil"));
  EXPECT_FALSE(fs::exists(t / "dest/evil"));
  return message;
}

} // namespace

TEST(Hostile, DotDot) {
  EXPECT_EQ(refused({{"ok", AE_IFDIR, 0755}, {"ok/../../evil", AE_IFREG, 0644, "x"}}),
            "received archive: entry 'ok/../../evil': path leaves the install directory ('..')");
  EXPECT_EQ(refused({{"../evil", AE_IFREG, 0644, "x"}}),
            "received archive: entry '../evil': path leaves the install directory ('..')");
}

TEST(Hostile, AbsolutePath) {
  EXPECT_EQ(refused({{"/tmp/distenv-evil", AE_IFREG, 0644, "x"}}),
            "received archive: entry '/tmp/distenv-evil': absolute path");
  EXPECT_FALSE(fs::exists("/tmp/distenv-evil"));
}

TEST(Hostile, EscapingSymlinks) {
  EXPECT_EQ(refused({{"a", AE_IFDIR, 0755}, {"a/link", AE_IFLNK, 0777, "", "../../evil"}}),
            "received archive: entry 'a/link': symlink points outside the install directory");
  EXPECT_EQ(refused({{"link", AE_IFLNK, 0777, "", "/etc"}}),
            "received archive: entry 'link': symlink to an absolute path");
  EXPECT_EQ(refused({{"link", AE_IFLNK, 0777, "", "x/../../y"}}),
            "received archive: entry 'link': symlink target has '..' after a name");
  // Each link alone stays inside; chained, a/b/.. would be the parent of the
  // root: '..' after a name is refused for that reason.
  EXPECT_EQ(
      refused(
          {{"a", AE_IFDIR, 0755}, {"a/b", AE_IFLNK, 0777, "", ".."}, {"c", AE_IFLNK, 0777, "", "a/b/../x"}}),
      "received archive: entry 'c': symlink target has '..' after a name");
}

TEST(Hostile, WritingThroughASymlink) {
  // Each entry alone is fine; the second would be written through the first.
  std::string why =
      refused({{"d", AE_IFDIR, 0755}, {"s", AE_IFLNK, 0777, "", "d"}, {"s/file", AE_IFREG, 0644, "x"}});
  EXPECT_EQ(why, "received archive: entry 's/file': lies below the symlink 's'");
}

TEST(Hostile, DeviceSetuidHardlinkDuplicate) {
  EXPECT_EQ(refused({{"null", AE_IFCHR, 0666}}),
            "received archive: entry 'null': device files are not allowed");
  EXPECT_EQ(refused({{"fifo", AE_IFIFO, 0644}}),
            "received archive: entry 'fifo': named pipes are not allowed");
  EXPECT_EQ(refused({{"su", AE_IFREG, 04755, "x"}}), "received archive: entry 'su': setuid/setgid bit");
  EXPECT_EQ(refused({{"a", AE_IFREG, 0644, "x"}, {"b", AE_IFREG, 0644, "", "", "a"}}),
            "received archive: entry 'b': hard links are not allowed");
  EXPECT_EQ(refused({{"a", AE_IFREG, 0644, "x"}, {"a", AE_IFREG, 0644, "y"}}),
            "received archive: entry 'a': appears twice");
}

TEST(Hostile, AnEntryBelowAFileOrTooLongIsRefused) {
  EXPECT_EQ(refused({{"f", AE_IFREG, 0644, "x"}, {"f/x", AE_IFREG, 0644, "y"}}),
            "received archive: entry 'f/x': lies below a file");
  EXPECT_EQ(last_exit_code, 2);
  std::vector<Crafted> entries;
  std::string path;
  for (int i = 0; i < 21; ++i) { // 21 levels of 201 bytes: beyond PATH_MAX, each name within NAME_MAX
    path += (path.empty() ? "" : "/") + std::string(200, static_cast<char>('a' + i));
    entries.push_back({path, AE_IFDIR, 0755});
  }
  const std::string why = refused(entries);
  EXPECT_EQ(why.rfind("received archive: entry '" + path.substr(0, 60) + "...': a path of ", 0), 0u) << why;
  EXPECT_EQ(last_exit_code, 2);
}

TEST(Hostile, RefusedEntriesAreBadInput) {
  for (const std::vector<Crafted>& entries :
       {std::vector<Crafted>{{"../evil", AE_IFREG, 0644, "x"}},
        std::vector<Crafted>{{"null", AE_IFCHR, 0666}},
        std::vector<Crafted>{{"a", AE_IFREG, 0644, "x"}, {"b", AE_IFREG, 0644, "", "", "a"}},
        std::vector<Crafted>{{"link", AE_IFLNK, 0777, "", "/etc"}}}) {
    refused(entries);
    EXPECT_EQ(last_exit_code, 2) << entries.back().path;
  }
}

TEST(Hostile, GarbageAndHashMismatch) {
  test::MemoryChunks garbage;
  std::string junk(10000, 'j');
  garbage.put(pack::Bytes(reinterpret_cast<const std::byte*>(junk.data()), junk.size()));
  TempDir t;
  EXPECT_THROW(install::Store(t / "d").install(hash::hash_bytes("x"), 0, garbage), Error);
  // A well-formed archive whose content is not what the plan said.
  EXPECT_EQ(refused({{"fine", AE_IFREG, 0644, "x"}})
                .rfind("received environment does not match its hash: expected ", 0),
            0u);
}

TEST(Hostile, EntryProblemRules) {
  EXPECT_EQ(pack::entry_problem("a/b", hash::EntryType::file, 0644, ""), "");
  EXPECT_EQ(pack::entry_problem("a/./b", hash::EntryType::file, 0644, ""), "path is not normalized");
  EXPECT_EQ(pack::entry_problem("a//b", hash::EntryType::file, 0644, ""), "path is not normalized");
  EXPECT_EQ(pack::entry_problem("a/l", hash::EntryType::symlink, 0777, "../b"), "");
  EXPECT_EQ(pack::entry_problem("l", hash::EntryType::symlink, 0777, "../b"),
            "symlink points outside the install directory");
  EXPECT_EQ(pack::entry_problem("d", hash::EntryType::directory, 02755, ""), "setuid/setgid bit");
}

// Whatever modes an archive carries, installed entries get the packer's:
// nothing an environment holds is writable by anyone but its owner, and its
// files (links to the store's objects) by no one; with --link copy they are
// the owner's to write.
TEST(Hostile, ModesAreThePackersWhateverTheArchiveSays) {
  TempDir t;
  test::MemoryChunks chunks = craft({{"locked", AE_IFDIR, 0500},
                                     {"locked/f", AE_IFREG, 0400, "y"},
                                     {"open", AE_IFDIR, 01777},
                                     {"open/shared", AE_IFREG, 0666, "x"},
                                     {"open/tool", AE_IFREG, 0777, "#!/bin/sh\n"}});
  install::Store store(t / "dest");
  const auto r = store.install(std::nullopt, 0, chunks);
  auto mode = [&](const std::string& rel) {
    struct stat st {};
    ::lstat((r.dir / rel).c_str(), &st);
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode("."), 0755u);
  EXPECT_EQ(mode("open"), 0755u);
  EXPECT_EQ(mode("open/shared"), 0444u);
  EXPECT_EQ(mode("open/tool"), 0555u);
  EXPECT_EQ(mode("locked"), 0755u);
  EXPECT_EQ(mode("locked/f"), 0444u);
  chunks.rewind();
  install::Store copies(t / "dest");
  copies.set_link_mode(install::LinkMode::copy);
  const auto w = copies.install(std::nullopt, 0, chunks);
  EXPECT_EQ(w.dir.filename().string(), r.tree_hash.hex() + ".w") << "installed apart";
  struct stat st {};
  ::lstat((w.dir / "open/shared").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ::lstat((w.dir / "open/tool").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

// A small archive that declares a huge file is stopped before its data is
// written: the declared size is checked against the free space first.
TEST(Hostile, DeclaredSizeBeyondTheFreeSpaceIsRefusedBeforeWriting) {
  TempDir t;
  // The tar stream as far as a few bytes of data, compressed by hand: a
  // closed archive would carry all of the declared zeros.
  test::MemoryChunks tar;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 0);
  archive_write_open2(a, &tar, nullptr, to_chunks, nullptr, nullptr);
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "zeros");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, la_int64_t(1) << 50); // 1 PiB, of which a few bytes follow
  archive_write_header(a, e);
  archive_write_data(a, "0000", 4);
  archive_entry_free(e);
  archive_write_fail(a); // so that freeing it does not write the rest
  archive_write_free(a);
  std::string raw;
  for (const auto& c : tar.chunks())
    raw.append(reinterpret_cast<const char*>(c.data()), c.size());
  std::string packed(ZSTD_compressBound(raw.size()), '\0');
  packed.resize(ZSTD_compress(packed.data(), packed.size(), raw.data(), raw.size(), 3));
  test::MemoryChunks chunks;
  chunks.put(pack::Bytes(reinterpret_cast<const std::byte*>(packed.data()), packed.size()));
  install::Store store(t / "dest");
  try {
    store.install(std::nullopt, 0, chunks);
    FAIL() << "accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("not enough space in " + fs::canonical(t / "dest/envs").string() + "/.incoming-", 0),
              0u)
        << m;
    EXPECT_NE(m.find(": entry 'zeros' needs 1.0 PiB, "), std::string::npos) << m;
  }
  std::vector<std::string> left;
  for (fs::directory_iterator it(store.envs_dir()), end; it != end; ++it)
    left.push_back(it->path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{".lock"});
}

// A read-only directory in a failed install does not keep its temporary
// directory alive for ever (as a user other than root, whom permissions do
// not stop, the removal would fail on it). Archives can no longer make one,
// so the test makes it the way a worker or another tool could.
TEST(Hostile, EntriesOutOfOrderAreRefused) {
  EXPECT_EQ(refused({{"b", AE_IFREG, 0644, "x"}, {"a", AE_IFREG, 0644, "y"}}),
            "received archive: entry 'a': out of order (after 'b'); distenv archives are sorted by path");
}

TEST(Hostile, ReadOnlyDirectoriesInALeftoverInstallAreRemoved) {
  TempDir t;
  fs::permissions(t.path(), fs::perms(0755));
  const fs::path incoming = t / "dest/envs/.incoming-deadbeef-1";
  test::write(incoming / "ro/f", "x");
  fs::permissions(incoming / "ro", fs::perms(0555));
  fs::permissions(incoming, fs::perms(0555));
  if (::geteuid() == 0) { // give it all to nobody, and install as nobody
    for (fs::recursive_directory_iterator it(t / "dest"), end; it != end; ++it)
      ASSERT_EQ(::lchown(it->path().c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chown((t / "dest").c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chown((t / "dest/envs").c_str(), 65534, 65534), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0)
        ::_exit(3);
      test::MemoryChunks chunks = craft({{"a", AE_IFREG, 0644, "x"}});
      try {
        install::Store(t / "dest").install(std::nullopt, 0, chunks);
      } catch (...) {
        ::_exit(4);
      }
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  } else {
    test::MemoryChunks chunks = craft({{"a", AE_IFREG, 0644, "x"}});
    install::Store(t / "dest").install(std::nullopt, 0, chunks);
  }
  EXPECT_FALSE(fs::exists(incoming)) << "the leftover install is still there";
}
