#include <distenv/env/ignore.hpp>

#include <gtest/gtest.h>

using distenv::env::IgnoreRules;

TEST(Ignore, NameAtAnyDepth) {
  IgnoreRules r;
  r.add_lines("# comment\n\n*.log\n");
  EXPECT_TRUE(r.ignored("run.log", false));
  EXPECT_TRUE(r.ignored("deep/dir/run.log", false));
  EXPECT_FALSE(r.ignored("run.txt", false));
}

TEST(Ignore, DirectoryOnlyAndAnchored) {
  IgnoreRules r;
  r.add_lines("build/\n/data\ndocs/*.md\n");
  EXPECT_TRUE(r.ignored("build", true));
  EXPECT_TRUE(r.ignored("sub/build", true));
  EXPECT_FALSE(r.ignored("build", false)); // a file named build stays
  EXPECT_TRUE(r.ignored("data", true));
  EXPECT_FALSE(r.ignored("sub/data", true)); // anchored at the root
  EXPECT_TRUE(r.ignored("docs/a.md", false));
  EXPECT_FALSE(r.ignored("x/docs/a.md", false));
}

TEST(Ignore, LastMatchWinsAndNegation) {
  IgnoreRules r;
  r.add_lines("*.csv\n!keep.csv\n");
  EXPECT_TRUE(r.ignored("a.csv", false));
  EXPECT_FALSE(r.ignored("keep.csv", false));
  r.add("keep.csv");
  EXPECT_TRUE(r.ignored("keep.csv", false));
}

TEST(Ignore, EscapesAndTrailingSpace) {
  IgnoreRules r;
  r.add("\\#notes  ");
  r.add("\\!bang");
  EXPECT_TRUE(r.ignored("#notes", false));
  EXPECT_TRUE(r.ignored("!bang", false));
  EXPECT_TRUE(IgnoreRules().empty());
}
