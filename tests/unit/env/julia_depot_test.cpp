// A registered package's place in a depot, as Julia 1.5's base/loading.jl
// names it (the expected slugs were printed by Julia 1.5.3's
// Base.version_slug for the same UUID and SHA-1).
#include <distenv/env/environment.hpp>
#include <distenv/env/julia_depot.hpp>
#include <distenv/hash/git_tree.hpp>

#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <cstdlib>

using namespace distenv;
using distenv::test::TempDir;
namespace fs = boost::filesystem;

TEST(JuliaDepot, SlugsAreJuliasOwn) {
  struct Case {
    const char *uuid, *sha1, *slug5, *slug4;
  };
  for (const Case& c : {Case{"7876af07-990d-54b4-ab0e-23690620f79a",
                             "1b4ab9d4a1cee9d1e3d0e3e7a6c94a8d0e9b5b5f", "BQyXA", "BQyX"},
                        Case{"682c06a0-de6a-54ab-a142-c8b1cf79cde6",
                             "81690084b6198a2e1da36fcfda16eeca9f9f24e4", "3rsiS", "3rsi"},
                        Case{"00000000-0000-0000-0000-000000000000",
                             "0000000000000000000000000000000000000000", "CgWBk", "CgWB"}}) {
    EXPECT_EQ(env::version_slug(c.uuid, c.sha1), c.slug5) << c.uuid;
    EXPECT_EQ(env::version_slug(c.uuid, c.sha1, 4), c.slug4) << c.uuid;
  }
  EXPECT_EQ(
      env::version_slug("7876AF07-990D-54B4-AB0E-23690620F79A", "1B4AB9D4A1CEE9D1E3D0E3E7A6C94A8D0E9B5B5F"),
      "BQyXA")
      << "hex in either case";
  EXPECT_FALSE(
      env::version_slug("7876af07990d54b4ab0e23690620f79a", "1b4ab9d4a1cee9d1e3d0e3e7a6c94a8d0e9b5b5f"));
  EXPECT_FALSE(env::version_slug("7876af07-990d-54b4-ab0e-23690620f79a", "1b4ab9d4"));
  EXPECT_FALSE(
      env::version_slug("7876af07-990d-54b4-ab0e-23690620f79g", "1b4ab9d4a1cee9d1e3d0e3e7a6c94a8d0e9b5b5f"));
}

// As loading.jl: the 4-character slug in every depot first, then the 5.
TEST(JuliaDepot, FoundAsLoadingFindsIt) {
  TempDir t;
  const char* uuid = "682c06a0-de6a-54ab-a142-c8b1cf79cde6";
  const char* sha1 = "81690084b6198a2e1da36fcfda16eeca9f9f24e4";
  const std::vector<fs::path> depots{t / "first", t / "second"};
  EXPECT_FALSE(env::find_in_depots("JSON", uuid, sha1, depots));
  fs::create_directories(t / "second/packages/JSON/3rsiS");
  EXPECT_EQ(env::find_in_depots("JSON", uuid, sha1, depots), t / "second/packages/JSON/3rsiS");
  fs::create_directories(t / "first/packages/JSON/3rsiS");
  EXPECT_EQ(env::find_in_depots("JSON", uuid, sha1, depots), t / "first/packages/JSON/3rsiS");
  fs::create_directories(t / "second/packages/JSON/3rsi");
  EXPECT_EQ(env::find_in_depots("JSON", uuid, sha1, depots), t / "second/packages/JSON/3rsi")
      << "an old 4-character slug anywhere wins";
  EXPECT_FALSE(env::find_in_depots("Other", uuid, sha1, depots));
}

// The manifest's registered packages are looked for in JULIA_DEPOT_PATH's
// depots as Julia looks; found or not, each is reported with its place or
// the manifest line that names it.
TEST(JuliaDepot, TheManifestsRegisteredPackagesAreFound) {
  TempDir t;
  test::write(t / "p/Project.toml", "name = \"P\"\n[deps]\nJSON = \"682c06a0-de6a-54ab-a142-c8b1cf79cde6\"\n"
                                    "Gone = \"7876af07-990d-54b4-ab0e-23690620f79a\"\n");
  test::write(t / "p/Manifest.toml",
              "[[JSON]]\ndeps = []\ngit-tree-sha1 = \"81690084b6198a2e1da36fcfda16eeca9f9f24e4\"\n"
              "uuid = \"682c06a0-de6a-54ab-a142-c8b1cf79cde6\"\nversion = \"0.21.1\"\n\n"
              "[[Gone]]\ngit-tree-sha1 = \"1b4ab9d4a1cee9d1e3d0e3e7a6c94a8d0e9b5b5f\"\n"
              "uuid = \"7876af07-990d-54b4-ab0e-23690620f79a\"\nversion = \"1.0.0\"\n\n"
              "[[Dates]]\ndeps = []\nuuid = \"ade2ca70-3891-5945-98fb-dc099432e06a\"\n");
  fs::create_directories(t / "depot2/packages/JSON/3rsiS/src");
  const char* before = std::getenv("JULIA_DEPOT_PATH");
  const std::string saved = before ? before : "";
  ::setenv("JULIA_DEPOT_PATH", ((t / "depot1").string() + ":" + (t / "depot2").string()).c_str(), 1);
  env::ReadOptions o;
  o.project_dir = t / "p";
  const env::Environment e = env::read_environment(o);
  if (before)
    ::setenv("JULIA_DEPOT_PATH", saved.c_str(), 1);
  else
    ::unsetenv("JULIA_DEPOT_PATH");
  ASSERT_EQ(e.registered.size(), 2u) << "Dates is a standard library: no tree of its own";
  EXPECT_EQ(e.depots, (std::vector<fs::path>{t / "depot1", t / "depot2"}));
  auto named = [&](const std::string& name) {
    for (const env::RegisteredPackage& p : e.registered)
      if (p.name == name)
        return p;
    ADD_FAILURE() << "no " << name;
    return env::RegisteredPackage{};
  };
  EXPECT_EQ(named("JSON").found, t / "depot2/packages/JSON/3rsiS");
  EXPECT_EQ(named("JSON").tree_sha1, "81690084b6198a2e1da36fcfda16eeca9f9f24e4");
  EXPECT_FALSE(named("Gone").found);
  EXPECT_NE(named("Gone").where.find("Manifest.toml:"), std::string::npos) << named("Gone").where;
}

// A package tree in a depot is checked against the manifest's
// git-tree-sha1 (--plan): the same tree passes, an edited one does not.
TEST(JuliaDepot, AFoundTreeIsCheckedAgainstTheManifest) {
  TempDir t;
  test::write(t / "tree/src/Foo.jl", "module Foo end\n");
  test::write(t / "tree/Project.toml", "name = \"Foo\"\n");
  const std::string sha1 = hash::git_tree_sha1(t / "tree");
  const char* uuid = "7876af07-990d-54b4-ab0e-23690620f79a";
  const fs::path place = t / "depot/packages/Foo" / *env::version_slug(uuid, sha1);
  fs::create_directories(place.parent_path());
  fs::rename(t / "tree", place);
  env::Environment e;
  e.registered.push_back({"Foo", uuid, sha1, "Manifest.toml:3:17", std::nullopt, {}});
  e.registered[0].found = env::find_in_depots("Foo", uuid, sha1, {t / "depot"});
  ASSERT_EQ(e.registered[0].found, place);
  env::verify_registered(e);
  EXPECT_EQ(e.registered[0].computed_sha1, sha1);
  test::write(place / "src/Foo.jl", "module Foo; edited = true; end\n");
  env::verify_registered(e);
  EXPECT_NE(e.registered[0].computed_sha1, sha1);
}
