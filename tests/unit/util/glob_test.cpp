#include <distenv/util/glob.hpp>
#include <distenv/util/units.hpp>

#include <gtest/gtest.h>

using distenv::glob_match;

TEST(Glob, StarStopsAtSlash) {
  EXPECT_TRUE(glob_match("*.o", "a.o"));
  EXPECT_FALSE(glob_match("*.o", "dir/a.o"));
  EXPECT_TRUE(glob_match("src/*.jl", "src/Foo.jl"));
  EXPECT_FALSE(glob_match("src/*.jl", "src/sub/Foo.jl"));
}

TEST(Glob, QuestionMarkAndClasses) {
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "a/c"));
  EXPECT_TRUE(glob_match("[a-c]x", "bx"));
  EXPECT_FALSE(glob_match("[!a-c]x", "bx"));
  EXPECT_TRUE(glob_match("[!a-c]x", "dx"));
  EXPECT_TRUE(glob_match("pkg/\\[archive\\]", "pkg/[archive]"));
  EXPECT_TRUE(glob_match("[", "["));
}

TEST(Glob, DoubleStar) {
  EXPECT_TRUE(glob_match("**/build", "build"));
  EXPECT_TRUE(glob_match("**/build", "a/b/build"));
  EXPECT_TRUE(glob_match("data/**", "data/x/y"));
  EXPECT_TRUE(glob_match("a/**/b", "a/b"));
  EXPECT_TRUE(glob_match("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(glob_match("a/**/b", "a/x/y/c"));
}

TEST(Units, ParseSize) {
  EXPECT_EQ(distenv::parse_size("4MiB"), 4u << 20);
  EXPECT_EQ(distenv::parse_size("4M"), 4u << 20);
  EXPECT_EQ(distenv::parse_size("512k"), 512u << 10);
  EXPECT_EQ(distenv::parse_size("1g"), 1ull << 30);
  EXPECT_EQ(distenv::parse_size("100"), 100u);
  EXPECT_FALSE(distenv::parse_size("x"));
  EXPECT_FALSE(distenv::parse_size("4Q"));
  EXPECT_EQ(distenv::human_bytes(17), "17 B");
  EXPECT_EQ(distenv::human_bytes(1288490189), "1.2 GiB");
  EXPECT_EQ(distenv::human_bytes(300u << 20), "300 MiB");
}
