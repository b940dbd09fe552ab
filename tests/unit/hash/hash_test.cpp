// Content and tree hashes: stable, order- and mtime-independent.
#include <distenv/hash/hash.hpp>

#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <ctime>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

TEST(Hash, KnownValuesAndHex) {
  // XXH3-128 of the empty input (xxHash's own test vector).
  EXPECT_EQ(hash::hash_bytes("").hex(), "99aa06d3014798d86001c324468d497f");
  auto h = hash::hash_bytes("distenv");
  EXPECT_EQ(hash::Hash128::from_hex(h.hex()), h);
  EXPECT_FALSE(hash::Hash128::from_hex("xyz"));
  EXPECT_FALSE(hash::Hash128::from_hex(std::string(32, 'G')));
}

TEST(Hash, StreamingEqualsOneShot) {
  std::string data(1 << 20, 'x');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 31);
  hash::Hasher h;
  h.update(data.data(), 1000);
  h.update(data.data() + 1000, data.size() - 1000);
  EXPECT_EQ(h.digest(), hash::hash_bytes(data));
  TempDir t;
  write(t / "f", data);
  uint64_t size = 0;
  EXPECT_EQ(hash::hash_file(t / "f", size), hash::hash_bytes(data));
  EXPECT_EQ(size, data.size());
}

TEST(Hash, TreeHashIgnoresOrderButNotContentModeOrPath) {
  std::vector<hash::TreeRecord> a{{"x", hash::EntryType::file, 0644, 1, hash::hash_bytes("1")},
                                  {"d", hash::EntryType::directory, 0755, 0, {}},
                                  {"d/y", hash::EntryType::file, 0755, 1, hash::hash_bytes("2")}};
  auto b = a;
  std::reverse(b.begin(), b.end());
  EXPECT_EQ(hash::tree_hash(a), hash::tree_hash(b));
  b[0].mode = 0644;
  EXPECT_NE(hash::tree_hash(a), hash::tree_hash(b));
  auto c = a;
  c[0].path = "z";
  EXPECT_NE(hash::tree_hash(a), hash::tree_hash(c));
  auto d = a;
  d[0].content = hash::hash_bytes("3");
  EXPECT_NE(hash::tree_hash(a), hash::tree_hash(d));
}

// The same environment created twice, in different orders, at different
// times and absolute locations, has the same identity.
TEST(Hash, SameEnvironmentSameHashAnywhere) {
  TempDir t1, t2;
  test::copy_fixture("julia-v2", t1.path());
  // Second copy: files written in reverse order with other mtimes.
  std::vector<fs::path> files;
  const fs::path src = t1.path();
  for (fs::recursive_directory_iterator it(src), end; it != end; ++it)
    if (fs::is_regular_file(it->path()))
      files.push_back(it->path());
  std::reverse(files.begin(), files.end());
  for (const fs::path& f : files) {
    const fs::path to = t2.path() / "elsewhere" / f.lexically_relative(src);
    write(to, test::slurp(f));
    fs::last_write_time(to, std::time(nullptr) - 86400 * 30);
  }
  auto a = test::plan(t1 / "home/u/proj");
  auto b = test::plan(t2 / "elsewhere/home/u/proj");
  EXPECT_EQ(a.tree.tree_hash, b.tree.tree_hash);
  write(t2 / "elsewhere/home/u/dev/Foo/src/Foo.jl", "module Foo; end\n");
  EXPECT_NE(a.tree.tree_hash, test::plan(t2 / "elsewhere/home/u/proj").tree.tree_hash);
}
