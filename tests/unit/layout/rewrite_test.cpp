// Rewriting TOML string values in place.
#include <distenv/layout/rewrite.hpp>
#include <distenv/util/error.hpp>

#include <gtest/gtest.h>

using distenv::layout::rewrite_strings;
using distenv::layout::toml_quote;

TEST(Rewrite, KeepsEverythingElse) {
  const std::string in = "# top\n[[deps.Foo]]\npath = \"../Foo\"   # why\nuuid = \"u\"\n"
                         "[registries.General]\nurl = \"x\"\n";
  EXPECT_EQ(rewrite_strings(in, {{3, 8, "../../dev/Foo"}}, "M.toml"),
            "# top\n[[deps.Foo]]\npath = \"../../dev/Foo\"   # why\nuuid = \"u\"\n"
            "[registries.General]\nurl = \"x\"\n");
}

TEST(Rewrite, LiteralAndInlineTables) {
  const std::string in = "[sources]\nA = {path = '..\\A', rev = \"x\"}\nB = { path = \"../B\" }\n";
  EXPECT_EQ(rewrite_strings(in, {{3, 14, "../lib/B"}, {2, 13, "../A"}}, "Project.toml"),
            "[sources]\nA = {path = \"../A\", rev = \"x\"}\nB = { path = \"../lib/B\" }\n");
}

TEST(Rewrite, ColumnsCountCodePoints) {
  const std::string in = "x = \"é\"; path = \"a\"\n";
  // "é" is two bytes but one column: path's string starts at column 16.
  EXPECT_EQ(rewrite_strings("ü = 1\npath=\"é\"\n", {{2, 6, "b"}}, "f"), "ü = 1\npath=\"b\"\n");
  (void)in;
}

TEST(Rewrite, EscapesAndErrors) {
  EXPECT_EQ(toml_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_THROW(rewrite_strings("path = 3\n", {{1, 8, "x"}}, "f"), distenv::Error);
  try {
    rewrite_strings("path = 3\n", {{1, 8, "x"}}, "Manifest.toml");
  } catch (const distenv::Error& e) {
    EXPECT_STREQ(e.what(), "Manifest.toml:1:8: expected a string to rewrite");
  }
}

TEST(Rewrite, MultilineStrings) {
  EXPECT_EQ(rewrite_strings("p = \"\"\"a\nb\"\"\"\nq = 1\n", {{1, 5, "c"}}, "f"), "p = \"c\"\nq = 1\n");
}
