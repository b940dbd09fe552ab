// The depot part of a Julia environment's closure (env::julia_closure):
// registered packages and the artifacts their Artifacts.toml name, chosen
// for the platform as Pkg's artifact_meta chooses, verified as Pkg verifies.
#include <distenv/env/julia_closure.hpp>
#include <distenv/hash/git_tree.hpp>
#include <distenv/util/error.hpp>

#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <fstream>

using namespace distenv;
using distenv::test::TempDir;
namespace fs = boost::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p.string()) << text;
}

const std::string k_sha(40, 'a');

// An environment whose one registered package (Foo) is at `depot`, with
// the Artifacts.toml `artifacts`.
env::Environment with_package(const fs::path& depot, const std::string& artifacts) {
  env::Environment e;
  e.kind = env::Kind::julia;
  e.project_dir = depot.parent_path() / "proj";
  fs::create_directories(e.project_dir);
  e.depots = {depot};
  const fs::path tree = depot / "packages/Foo/AbCd";
  write(tree / "src/Foo.jl", "module Foo end\n");
  if (!artifacts.empty())
    write(tree / "Artifacts.toml", artifacts);
  e.registered.push_back(
      {"Foo", "7876af07-990d-54b4-ab0e-23690620f79a", k_sha, "Manifest.toml:3:17", tree, {}});
  return e;
}

env::Platform linux_x86() {
  env::Platform p;
  p.arch = "x86_64";
  return p;
}

} // namespace

TEST(JuliaClosure, PackagesAndTheArtifactsForThisPlatform) {
  TempDir t;
  const fs::path depot = t / "depot";
  const std::string a = std::string(40, '1'), b = std::string(40, '2'), c = std::string(40, '3'),
                    lazy = std::string(40, '4'), gone = std::string(40, '5');
  for (const std::string& h : {a, b, c, lazy})
    write(depot / "artifacts" / h / "lib/x.so", "x");
  const env::Environment e = with_package(depot, R"(
[data]
git-tree-sha1 = ")" + a + R"("

[[lib]]
arch = "x86_64"
os = "linux"
libc = "glibc"
git-tree-sha1 = ")" + b + R"("

[[lib]]
arch = "aarch64"
os = "linux"
git-tree-sha1 = ")" + c + R"("

[big]
git-tree-sha1 = ")" + lazy + R"("
lazy = true

[never]
git-tree-sha1 = ")" + gone + R"("
lazy = true

[needed]
git-tree-sha1 = ")" + gone + R"("
)");
  const env::Closure closure = env::julia_closure(e, linux_x86());
  std::vector<std::string> paths;
  for (const env::DepotUnit& u : closure.units)
    paths.push_back(u.path);
  // Fetched lazy ones ship; the other platform's does not.
  EXPECT_EQ(paths, (std::vector<std::string>{"artifacts/" + a, "artifacts/" + b, "artifacts/" + lazy,
                                             "packages/Foo/AbCd"}));
  EXPECT_EQ(closure.units.back().what, "Foo");
  EXPECT_EQ(closure.units.back().where, "Manifest.toml:3:17");
  EXPECT_EQ(closure.units.front().what, "artifact \"data\" (Foo)");
  EXPECT_EQ(closure.units.front().where, "Foo/Artifacts.toml:3:17");
  // A lazy one never fetched is left; one Julia needs is a warning.
  ASSERT_EQ(closure.warnings.size(), 1u);
  EXPECT_NE(closure.warnings[0].find("artifact \"needed\" (Foo) is in no depot here"), std::string::npos)
      << closure.warnings[0];
}

TEST(JuliaClosure, APackageInNoDepotIsBadInputNamingIt) {
  TempDir t;
  env::Environment e = with_package(t / "depot", "");
  e.registered.front().found.reset();
  e.registered.push_back(e.registered.front());
  try {
    env::julia_closure(e, linux_x86());
    FAIL() << "accepted";
  } catch (const InputError& err) {
    const std::string what = err.what();
    EXPECT_NE(what.find("Manifest.toml:3:17: Foo (7876af07-990d-54b4-ab0e-23690620f79a) is in no depot here "
                        "(looked in " +
                        (t / "depot").string() + "); 1 more package is missing too"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("Pkg.instantiate()"), std::string::npos) << what;
  }
}

TEST(JuliaClosure, EveryUnitIsVerifiedUnlessItsContentsWereBefore) {
  TempDir t;
  env::Environment e = with_package(t / "depot", "");
  const std::string real = hash::git_tree_sha1(*e.registered.front().found);
  e.registered.front().tree_sha1 = real;
  env::Closure closure = env::julia_closure(e, linux_x86());
  int computed = 0;
  auto none = [](const env::DepotUnit&) { return std::string(); };
  auto count = [&](const env::DepotUnit&, const std::string&) { ++computed; };
  env::verify_closure(closure, none, count);
  EXPECT_EQ(computed, 1);
  env::verify_closure(
      closure, [&](const env::DepotUnit&) { return real; }, count);
  EXPECT_EQ(computed, 1) << "known: not read again";
  write(t / "depot/packages/Foo/AbCd/src/Foo.jl", "module Foo; edited = 1; end\n");
  try {
    env::verify_closure(closure, none, count);
    FAIL() << "a changed tree was accepted";
  } catch (const InputError& err) {
    const std::string what = err.what();
    EXPECT_NE(what.find("Manifest.toml:3:17: Foo at " + (t / "depot/packages/Foo/AbCd").string() +
                        " has the git tree hash "),
              std::string::npos)
        << what;
    EXPECT_NE(what.find(", not " + real + ": it changed after Pkg installed it"), std::string::npos) << what;
  }
}

TEST(JuliaClosure, TheVerifiedCacheKeepsWhatItWasToldAcrossRuns) {
  TempDir t;
  const hash::Hash128 key = hash::hash_bytes("tree");
  {
    hash::GitTreeCache cache(t / "git-trees");
    EXPECT_EQ(cache.known(key), "");
    cache.add(key, k_sha);
    cache.save();
  }
  hash::GitTreeCache again(t / "git-trees");
  EXPECT_EQ(again.known(key), k_sha);
  EXPECT_EQ(again.known(hash::hash_bytes("other")), "");
  write(t / "git-trees", "garbage\nzz " + k_sha + "\n");
  EXPECT_EQ(hash::GitTreeCache(t / "git-trees").known(key), "") << "a broken file is an empty cache";
}
