// A package's git-tree-sha1, computed as Pkg does, checked against git itself.
#include <distenv/hash/git_tree.hpp>
#include <distenv/util/command.hpp>
#include <distenv/util/error.hpp>

#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <sys/stat.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

// What git says the tree of `dir` is (empty directories are not in it).
std::string git_write_tree(const fs::path& dir) {
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{"git", "init", "-q"}, {"git", "add", "-A"}}) {
    const CommandResult r = run_command(argv, dir);
    EXPECT_EQ(r.status, 0) << r.err;
  }
  const CommandResult r = run_command({"git", "write-tree"}, dir);
  EXPECT_EQ(r.status, 0) << r.err;
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

} // namespace

TEST(GitTree, IsWhatGitComputes) {
  TempDir t;
  const fs::path p = t / "Pkg";
  write(p / "Project.toml", "name = \"Pkg\"\n");
  write(p / "src/Pkg.jl", "module Pkg end\n");
  write(p / "src/a.jl", "a");
  write(p / "src/a-b.jl", "a-b"); // sorts before the directory "src/a/" but after "a"
  write(p / "src/a/inner.jl", "inner");
  write(p / "src/a.b", "dot");
  write(p / "deps/build.sh", "#!/bin/sh\n");
  ::chmod((p / "deps/build.sh").c_str(), 0755);
  fs::create_symlink("src/Pkg.jl", p / "link.jl");
  write(p / "empty-file", "");
  fs::create_directories(p / "empty/nested"); // no file below: git has no such tree
  const std::string ours = hash::git_tree_sha1(p);
  EXPECT_EQ(ours.size(), 40u);
  EXPECT_EQ(ours, git_write_tree(p)) << "the .git directory git made is not part of it either";
}

TEST(GitTree, AnEmptyPackageIsGitsEmptyTree) {
  TempDir t;
  fs::create_directories(t / "empty");
  EXPECT_EQ(hash::git_tree_sha1(t / "empty"), "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
}

TEST(GitTree, AFileThatChangedChangesIt) {
  TempDir t;
  write(t / "p/src/x.jl", "x");
  const std::string before = hash::git_tree_sha1(t / "p");
  write(t / "p/src/x.jl", "y");
  EXPECT_NE(hash::git_tree_sha1(t / "p"), before);
  ::chmod((t / "p/src/x.jl").c_str(), 0755);
  const std::string executable = hash::git_tree_sha1(t / "p");
  write(t / "p/src/x.jl", "x");
  ::chmod((t / "p/src/x.jl").c_str(), 0644);
  EXPECT_EQ(hash::git_tree_sha1(t / "p"), before);
  EXPECT_NE(executable, before);
}

TEST(GitTree, WhatGitCannotHoldIsRefused) {
  TempDir t;
  write(t / "p/a", "a");
  ASSERT_EQ(::mkfifo((t / "p/fifo").c_str(), 0644), 0);
  EXPECT_THROW(hash::git_tree_sha1(t / "p"), InputError);
}
