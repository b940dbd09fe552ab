// Reading Julia projects: manifest formats, dev paths, [sources], versions,
// and every bad input with its exact message.
#include <distenv/env/environment.hpp>
#include <distenv/util/error.hpp>

#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <algorithm>

using namespace distenv;
using distenv::test::dev_names;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

env::Environment read(const fs::path& dir, std::optional<std::pair<int, int>> version = {}) {
  return env::read_environment({dir, version});
}

const env::DevPackage& dev(const env::Environment& e, const std::string& name) {
  for (const auto& d : e.dev_packages)
    if (d.name == name)
      return d;
  throw std::runtime_error("no dev package " + name);
}

// The message of the InputError `f` throws (and that it is one).
template <typename F> std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return {};
}

} // namespace

TEST(Julia, ManifestFormat2WithNestedDevPackages) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  const fs::path home = t / "home/u";
  auto e = read(home / "proj");
  EXPECT_EQ(e.kind, env::Kind::julia);
  EXPECT_EQ(e.manifest_format, "2.0");
  EXPECT_EQ(e.manifest_file, home / "proj/Manifest.toml");
  EXPECT_EQ(dev_names(e), (std::vector<std::string>{"Bar", "Foo", "Inner"}));
  EXPECT_EQ(dev(e, "Foo").source, home / "dev/Foo");
  EXPECT_EQ(dev(e, "Bar").source, home / "dev/Foo/sub/Bar");
  EXPECT_EQ(dev(e, "Inner").source, home / "proj/lib/Inner");
  EXPECT_EQ(dev(e, "Foo").where, "Manifest.toml:19:8");
  EXPECT_EQ(e.path_refs.size(), 3u);
  EXPECT_EQ(e.roots.front(), home / "proj");
  EXPECT_EQ(e.activation.runtime, "julia");
}

TEST(Julia, ManifestFormat1) {
  TempDir t;
  test::copy_fixture("julia-v1", t.path());
  auto e = read(t / "proj");
  EXPECT_EQ(e.manifest_format, "1.0");
  EXPECT_EQ(dev_names(e), (std::vector<std::string>{"Foo"}));
  EXPECT_EQ(dev(e, "Foo").source, t / "Foo");
}

TEST(Julia, AbsoluteAndWindowsDevPaths) {
  TempDir t;
  write(t / "dev/Abs/Project.toml", "name = \"Abs\"\n");
  write(t / "dev/Win/Project.toml", "name = \"Win\"\n");
  write(t / "proj/Project.toml", "[deps]\nAbs = \"1\"\n");
  write(t / "proj/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Abs]]\npath = \"" +
                                      (t / "dev/Abs").string() + "\"\n[[deps.Win]]\npath = '..\\dev\\Win'\n");
  auto e = read(t / "proj");
  EXPECT_EQ(dev(e, "Abs").source, t / "dev/Abs");
  EXPECT_EQ(dev(e, "Win").source, t / "dev/Win");
  EXPECT_EQ(dev(e, "Win").declared, "..\\dev\\Win");
}

TEST(Julia, PathDotIsTheProjectItself) {
  TempDir t;
  write(t / "Pkg/Project.toml", "name = \"Pkg\"\n[deps]\nPkg = \"1\"\n");
  write(t / "Pkg/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Pkg]]\npath = \".\"\n");
  auto e = read(t / "Pkg");
  EXPECT_EQ(e.roots.size(), 1u);
  EXPECT_EQ(dev(e, "Pkg").source, t / "Pkg");
}

TEST(Julia, SourcesChainWithoutManifest) {
  TempDir t;
  test::copy_fixture("julia-sources", t.path());
  const fs::path repo = t / "repo";
  auto e = read(repo / "app");
  EXPECT_TRUE(e.manifest_file.empty());
  EXPECT_EQ(dev_names(e), (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_EQ(dev(e, "C").source, repo / "lib/C");
  EXPECT_EQ(dev(e, "B").where, repo.string() + "/lib/A/Project.toml:7:13");
  EXPECT_EQ(e.roots.size(), 4u);
}

TEST(Julia, VersionedManifests) {
  TempDir t;
  test::copy_fixture("julia-versioned", t.path());
  EXPECT_EQ(read(t / "proj").manifest_file.filename(), "Manifest-v1.11.toml");
  EXPECT_EQ(dev(read(t / "proj"), "Pkg").source, t / "C");
  EXPECT_EQ(read(t / "proj", std::make_pair(1, 10)).manifest_file.filename(), "Manifest-v1.10.toml");
  EXPECT_EQ(dev(read(t / "proj", std::make_pair(1, 10)), "Pkg").source, t / "B");
  // Julia 1.9 has no versioned manifest here: it falls back to Manifest.toml.
  EXPECT_EQ(dev(read(t / "proj", std::make_pair(1, 9)), "Pkg").source, t / "A");
}

TEST(Julia, JuliaProjectAndJuliaManifestNames) {
  TempDir t;
  write(t / "p/JuliaProject.toml", "[deps]\nX = \"1\"\n");
  write(t / "p/Project.toml", "this is not read = \n");
  write(t / "p/JuliaManifest.toml", "manifest_format = \"2.0\"\n[[deps.X]]\npath = \"../X\"\n");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n");
  write(t / "X/Project.toml", "name = \"X\"\n");
  auto e = read(t / "p");
  EXPECT_EQ(e.project_file.filename(), "JuliaProject.toml");
  EXPECT_EQ(e.manifest_file.filename(), "JuliaManifest.toml");
  EXPECT_EQ(dev_names(e), (std::vector<std::string>{"X"}));
}

TEST(Julia, ManifestKeyPointsElsewhere) {
  TempDir t;
  write(t / "ws/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.X]]\npath = \"X\"\n");
  write(t / "ws/X/Project.toml", "name = \"X\"\n");
  write(t / "ws/app/Project.toml", "manifest = \"../Manifest.toml\"\n[deps]\nX = \"1\"\n");
  auto e = read(t / "ws/app");
  EXPECT_EQ(e.manifest_file, t / "ws/Manifest.toml");
  EXPECT_EQ(dev(e, "X").source, t / "ws/X");
}

TEST(Julia, WorkspaceMemberUsesTheRootManifest) {
  TempDir t;
  test::copy_fixture("julia-workspace", t.path());
  auto e = read(t / "ws/app");
  EXPECT_EQ(e.manifest_file, t / "ws/Manifest.toml");
  EXPECT_EQ(dev(e, "Foo").source, t / "ws/lib/Foo");
  // The workspace root ships its project and manifest files, not its whole directory.
  EXPECT_EQ(std::find(e.roots.begin(), e.roots.end(), t / "ws"), e.roots.end());
  EXPECT_NE(std::find(e.files.begin(), e.files.end(), t / "ws/Project.toml"), e.files.end());
  EXPECT_NE(std::find(e.files.begin(), e.files.end(), t / "ws/Manifest.toml"), e.files.end());
  // not listed in the workspace: no manifest, a warning (Julia will not load Foo)
  write(t / "ws/other/Project.toml", "[deps]\nFoo = \"1\"\n");
  e = read(t / "ws/other");
  EXPECT_TRUE(e.needs_resolve);
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_NE(e.warnings[0].find("lists [deps] but there is no manifest"), std::string::npos) << e.warnings[0];
}

// Pkg's load_direct_deps (src/Operations.jl): a workspace without a manifest
// resolves as one, every member's [sources] and every member package there
// for each member; so a member ships the code they name.
TEST(Julia, WorkspaceWithoutManifestShipsTheMemberPackagesAndEveryMembersSources) {
  TempDir t;
  test::copy_fixture("julia-workspace", t.path());
  fs::remove(t / "ws/Manifest.toml");
  write(t / "ws/vendor/Bar/Project.toml",
        "name = \"Bar\"\nuuid = \"5f1a2b3c-0000-4000-8000-0000000000f2\"\n");
  write(t / "ws/vendor/Bar/src/Bar.jl", "module Bar end\n");
  write(t / "ws/docs/Project.toml", "[deps]\nBar = \"5f1a2b3c-0000-4000-8000-0000000000f2\"\n"
                                    "[sources]\nBar = {path = \"../vendor/Bar\"}\n");
  env::ReadOptions o{t / "ws/app", std::nullopt};
  o.instantiate = true; // Pkg.instantiate() would resolve the workspace
  const auto e = env::read_environment(o);
  EXPECT_TRUE(e.manifest_file.empty());
  EXPECT_TRUE(e.warnings.empty()) << e.warnings[0];
  for (const char* dir : {"ws/lib/Foo", "ws/vendor/Bar"})
    EXPECT_NE(std::find(e.roots.begin(), e.roots.end(), t / dir), e.roots.end()) << dir;
}

TEST(JuliaErrors, MalformedManifest) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nX = \"1\"\n");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n\n[[deps.X]]\npath = \n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:4:8: error while parsing key-value pair: expected value, saw '\\n'");
}

TEST(JuliaErrors, MalformedProject) {
  TempDir t;
  write(t / "p/Project.toml", "[deps\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }).rfind("Project.toml:1:", 0), 0u);
}

TEST(JuliaErrors, MissingDevPackage) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nGone = \"1\"\n");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Gone]]\npath = \"../Gone\"\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:3:8: dev package Gone: path \"../Gone\" does not exist (" + (t / "Gone").string() +
                ")");
}

TEST(JuliaErrors, DevPackageIsAFile) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nF = \"1\"\n");
  write(t / "p/F", "");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.F]]\npath = \"F\"\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:3:8: dev package F: path \"F\" is not a directory (" + (t / "p/F").string() + ")");
}

TEST(JuliaErrors, EmptySubmoduleCheckout) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nS = \"1\"\n");
  fs::create_directories(t / "p/deps/S");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.S]]\npath = \"deps/S\"\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:3:8: dev package S: " + (t / "p/deps/S").string() +
                " is empty (a git submodule that was not checked out?)");
}

TEST(JuliaErrors, ManifestWithoutProject) {
  TempDir t;
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml has no Project.toml or JuliaProject.toml next to it (looked in " +
                (t / "p").string() + ")");
}

TEST(JuliaErrors, ProjectWithoutManifest) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nX = \"1\"\n");
  // Julia would load none of [deps] as it stands: said, not refused (Pkg.instantiate() resolves it).
  auto e = read(t / "p");
  EXPECT_TRUE(e.needs_resolve);
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_EQ(e.warnings[0],
            "Project.toml lists [deps] but there is no manifest in " + (t / "p").string() +
                " (looked for JuliaManifest.toml, Manifest.toml): Julia will not load them as it "
                "stands; run Pkg.instantiate() there first, or pass --instantiate");
  env::ReadOptions o{t / "p", std::nullopt};
  o.instantiate = true;
  e = env::read_environment(o);
  EXPECT_TRUE(e.needs_resolve);
  EXPECT_TRUE(e.warnings.empty()) << "--instantiate resolves it";
  // A project without dependencies needs no manifest.
  write(t / "q/Project.toml", "name = \"Q\"\n");
  EXPECT_TRUE(read(t / "q").manifest_file.empty());
}

TEST(JuliaErrors, NothingThere) {
  TempDir t;
  fs::create_directories(t / "empty");
  EXPECT_EQ(input_error([&] { read(t / "empty"); }),
            (t / "empty").string() +
                ": no Project.toml, JuliaProject.toml or distenv.toml: nothing says what the "
                "environment is");
  EXPECT_EQ(input_error([&] { read(t / "missing"); }), (t / "missing").string() + ": no such directory");
}

TEST(JuliaErrors, DevPathThatIsNotThePackageItNames) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nA = \"1\"\n");
  write(t / "X/Project.toml", "name = \"A\"\nuuid = \"7876af07-990d-54b4-ab0e-23690620f79a\"\n");
  write(t / "p/Manifest.toml",
        "manifest_format = \"2.0\"\n[[deps.A]]\npath = \"../X\"\n"
        "uuid = \"7876AF07-990D-54B4-AB0E-23690620F79A\"\n[[deps.B]]\npath = \"../p/../X\"\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:6:8: dev package B: " + (t / "X/Project.toml").string() +
                " is the package \"A\", not B");
  // the right name with another uuid
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.A]]\npath = \"../X\"\n"
                               "uuid = \"00000000-990d-54b4-ab0e-23690620f79a\"\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:3:8: dev package A: uuid 00000000-990d-54b4-ab0e-23690620f79a, but " +
                (t / "X/Project.toml").string() + " says 7876af07-990d-54b4-ab0e-23690620f79a");
  // a directory that is not a package at all (Pkg's fixtures have `path = ".."` to a home-like directory)
  fs::create_directories(t / "notapkg/.ssh");
  write(t / "notapkg/notes.txt", "x");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.A]]\npath = \"../notapkg\"\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:3:8: dev package A: " + (t / "notapkg").string() +
                " is not a Julia package (no Project.toml or JuliaProject.toml in it)");
  write(t / "notapkg/Project.toml", "[deps]\n");
  EXPECT_EQ(input_error([&] { read(t / "p"); }),
            "Manifest.toml:3:8: dev package A: " + (t / "notapkg/Project.toml").string() +
                " is not a package (it has no name), not A");
}
