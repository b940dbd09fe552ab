// The generic distenv.toml schema.
#include <distenv/env/environment.hpp>
#include <distenv/util/error.hpp>

#include "support/errors.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {
std::string error_of(const fs::path& dir) {
  return test::error_of<InputError>([&] { env::read_environment({dir, {}}); });
}
} // namespace

TEST(DistenvToml, FullSchema) {
  TempDir t;
  test::copy_fixture("generic", t.path());
  auto e = env::read_environment({t / "work/app", {}});
  EXPECT_EQ(e.kind, env::Kind::generic);
  ASSERT_EQ(e.roots.size(), 2u);
  EXPECT_EQ(e.roots[1], t / "work/shared");
  EXPECT_EQ(e.activation.runtime, "python3");
  EXPECT_EQ(e.activation.runtime_hint, "apt-get install python3");
  EXPECT_EQ(e.activation.command, (std::vector<std::string>{"python3", "run.py"}));
  EXPECT_EQ(e.activation.each_machine, (std::vector<std::string>{"python3 -c 'print(42)'"}));
  ASSERT_EQ(e.activation.env.size(), 2u);
  EXPECT_EQ(e.activation.env[0].first, "PYTHONPATH");
  EXPECT_EQ(e.activation.env[0].second, "{project}/../shared");
  EXPECT_TRUE(e.exclude.ignored("build", true));
  EXPECT_TRUE(e.exclude.ignored("x.pyc", false));
}

TEST(DistenvToml, CommandStringRunsInAShell) {
  TempDir t;
  write(t / "a/distenv.toml", "command = \"echo hi | cat\"\neach_machine = \"make\"\n");
  auto e = env::read_environment({t / "a", {}});
  EXPECT_EQ(e.activation.command, (std::vector<std::string>{"sh", "-c", "echo hi | cat"}));
  EXPECT_EQ(e.activation.each_machine, (std::vector<std::string>{"make"}));
}

TEST(DistenvToml, JuliaProjectWithDistenvTomlOverridesEnv) {
  TempDir t;
  write(t / "p/Project.toml", "name = \"P\"\n");
  write(t / "p/distenv.toml", "[env]\nJULIA_PROJECT = \"{project}/sub\"\nJULIA_NUM_THREADS = \"1\"\n");
  auto e = env::read_environment({t / "p", {}});
  EXPECT_EQ(e.kind, env::Kind::julia);
  ASSERT_EQ(e.activation.env.size(), 2u);
  EXPECT_EQ(e.activation.env[0].second, "{project}/sub");
}

TEST(DistenvToml, Collect) {
  TempDir t;
  write(t / "p/distenv.toml", "collect = [\"*.csv\", \"plots/**\"]\n");
  const auto e = env::read_environment({t / "p", {}});
  EXPECT_EQ(e.activation.collect, (std::vector<std::string>{"*.csv", "plots/**"}));
}

TEST(DistenvToml, Errors) {
  TempDir t;
  write(t / "a/distenv.toml", "rots = [\"x\"]\n");
  EXPECT_EQ(error_of(t / "a"),
            "distenv.toml:1:8: unknown key 'rots' (known: roots, exclude, mutable, gitignore, "
            "env, runtime, runtime_hint, command, each_machine, collect)");
  write(t / "g/distenv.toml", "collect = [\"*.csv\", \"../up/*\"]\n");
  EXPECT_EQ(error_of(t / "g"),
            "distenv.toml:1:11: collect \"../up/*\": '..' would leave the output directory");
  write(t / "h/distenv.toml", "collect = [\"/abs\"]\n");
  EXPECT_EQ(
      error_of(t / "h"),
      "distenv.toml:1:11: collect \"/abs\": must be relative to the output directory ($DISTENV_OUTPUT)");
  write(t / "b/distenv.toml", "roots = \"../x\"\n");
  EXPECT_EQ(error_of(t / "b"), "distenv.toml:1:9: roots must be an array of strings");
  write(t / "c/distenv.toml", "roots = [\"../nowhere\"]\n");
  EXPECT_EQ(error_of(t / "c"),
            "distenv.toml:1:9: root \"../nowhere\" is not a directory (" + (t / "nowhere").string() + ")");
  write(t / "d/distenv.toml", "[env]\nX = 1\n");
  EXPECT_EQ(error_of(t / "d"), "distenv.toml:2:5: env.X must be a string");
  write(t / "f/distenv.toml", "[env]\nX = \"a\\u0000b\"\n");
  EXPECT_EQ(error_of(t / "f"),
            "distenv.toml:2:5: env.X: a variable's name cannot hold '=' nor its value a NUL byte");
  write(t / "e/distenv.toml", "roots = [\n");
  EXPECT_EQ(error_of(t / "e").rfind("distenv.toml:1:11: ", 0), 0u) << error_of(t / "e");
}
