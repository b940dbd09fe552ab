// "Did you mean": the nearest known word within two edits, never a guess
// from a word too short to say anything.
#include <distenv/util/suggest.hpp>

#include <gtest/gtest.h>

using distenv::nearest;

TEST(Suggest, NearestCommandWithinTwoEdits) {
  const std::vector<std::string> modes = {"run",  "status", "plan",    "gc",
                                          "path", "pack",   "install", "version"};
  EXPECT_EQ(nearest("stauts", modes), "status"); // a transposition is two edits
  EXPECT_EQ(nearest("rn", modes), "run");
  EXPECT_EQ(nearest("instal", modes), "install");
  EXPECT_EQ(nearest("verison", modes), "version");
  EXPECT_EQ(nearest("deploy", modes), "");
  EXPECT_EQ(nearest("x", modes), "") << "one letter is no evidence";
  EXPECT_EQ(nearest("pach", modes), "path") << "one edit from path and from pack: the first given";
}

TEST(Suggest, NearestOption) {
  const std::vector<std::string> options = {"--dest", "--project", "--workers", "--broadcast",
                                            "--chunk-size"};
  EXPECT_EQ(nearest("--worker", options), "--workers");
  EXPECT_EQ(nearest("--broadcst", options), "--broadcast");
  EXPECT_EQ(nearest("--frobnicate", options), "");
}
