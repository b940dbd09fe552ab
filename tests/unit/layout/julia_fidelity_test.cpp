// Julia environments as Julia resolves them (base/loading.jl: base_project,
// workspace_manifest, project_file_manifest_path): the manifest chosen for
// every shape real repositories have, what ships for it, and that the
// installed project resolves to the installed manifest and dev packages.
#include <distenv/env/environment.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/util/command.hpp>
#include <distenv/util/error.hpp>

#include "support/errors.hpp"
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

const std::string k_uuid_a = "11111111-1111-4111-8111-111111111111";

// A package directory: Project.toml with its name (and uuid) and a source file.
void package(const fs::path& dir, const std::string& name, const std::string& extra = "") {
  write(dir / "Project.toml", "name = \"" + name + "\"\nuuid = \"" + k_uuid_a + "\"\n" + extra);
  write(dir / "src" / (name + ".jl"), "module " + name + " end\n");
}

bool ships(const test::Planned& p, const std::string& path) {
  return std::any_of(p.tree.entries.begin(), p.tree.entries.end(),
                     [&](const layout::FileEntry& e) { return e.path == path; });
}

std::string input_error(const env::ReadOptions& o) {
  return test::error_of<InputError>([&] { env::read_environment(o); }); // InputError: exit code 2
}

env::ReadOptions at(const fs::path& project) {
  env::ReadOptions o;
  o.project_dir = project;
  return o;
}

// Installs the plan and reads the installed project the way Julia would:
// it must pick the installed manifest and find every dev package inside
// the install tree, the same packages as on the source machine.
void expect_installed_resolves(const test::Planned& p, const fs::path& dest) {
  const auto r = test::install_locally(p, dest);
  const env::Environment installed = env::read_environment(at(r.dir / p.layout.project));
  ASSERT_FALSE(p.tree.metadata.manifest.empty());
  EXPECT_EQ(installed.manifest_file, fs::canonical(r.dir / p.tree.metadata.manifest));
  EXPECT_EQ(dev_names(installed), dev_names(p.env));
  for (const auto& d : installed.dev_packages)
    EXPECT_TRUE(is_within(d.source, fs::canonical(r.dir))) << d.name << " resolves to " << d.source;
}

void git(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-c", "user.email=t@example.org", "-c", "user.name=t"});
  const CommandResult r = run_command(args, dir);
  ASSERT_TRUE(r.started) << "git is needed by this test (scripts/setup installs it)";
  ASSERT_EQ(r.status, 0) << r.err;
}

} // namespace

TEST(JuliaFidelity, AbsoluteManifestKeyIsRewrittenToTheInstalledManifest) {
  TempDir t;
  package(t / "pkgs/X", "X");
  write(t / "shared/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.X]]\npath = \"../pkgs/X\"\n");
  write(t / "shared/big.dat", std::string(100000, 'x'));
  const std::string abs = (t / "shared/Manifest.toml").string();
  write(t / "p/Project.toml", "manifest = \"" + abs + "\"\n[deps]\nX = \"" + k_uuid_a + "\"\n");
  const auto p = test::plan(t / "p");
  EXPECT_EQ(p.env.manifest_file, fs::canonical(t / "shared/Manifest.toml"));
  const auto it = std::find_if(p.tree.rewritten.begin(), p.tree.rewritten.end(),
                               [&](const layout::RewrittenPath& r) { return r.original == abs; });
  ASSERT_NE(it, p.tree.rewritten.end());
  EXPECT_EQ(it->where, "Project.toml:1:12");
  EXPECT_EQ(it->rewritten, "../shared/Manifest.toml");
  EXPECT_FALSE(ships(p, p.layout.to_install(t / "shared/big.dat")))
      << "only the manifest of its directory ships";
  expect_installed_resolves(p, t / "dest");
}

TEST(JuliaFidelity, WorkspaceMemberUsesTheRootManifestNotItsOwnStaleOne) {
  TempDir t;
  const fs::path ws = t / "ws";
  write(ws / "Project.toml", "[workspace]\nprojects = [\"app\", \"lib/Foo\", \"lib/Bar\", \"docs\"]\n");
  write(ws / "Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Foo]]\npath = \"lib/Foo\"\n"
                              "[[deps.Bar]]\npath = \"lib/Bar\"\n");
  package(ws / "lib/Foo", "Foo");
  package(ws / "lib/Bar", "Bar");
  package(t / "old/Old", "Old");
  write(ws / "app/Project.toml", "manifest = \"Stale.toml\"\n[deps]\nFoo = \"" + k_uuid_a + "\"\n");
  write(ws / "app/Stale.toml", "manifest_format = \"2.0\"\n[[deps.Old]]\npath = \"../../old/Old\"\n");
  write(ws / "app/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Old]]\npath = \"../../old/Old\"\n");
  write(ws / "app/run.jl", "using Foo\n");
  write(ws / "docs/Project.toml", "[deps]\n");
  write(ws / "docs/make.jl", std::string(50000, 'd'));
  write(ws / "data/big.bin", std::string(200000, 'b'));
  const auto p = test::plan(ws / "app");
  EXPECT_EQ(p.env.manifest_file, ws / "Manifest.toml");
  EXPECT_EQ(dev_names(p.env), (std::vector<std::string>{"Bar", "Foo"}));
  EXPECT_TRUE(ships(p, "ws/Project.toml"));
  EXPECT_TRUE(ships(p, "ws/Manifest.toml"));
  EXPECT_TRUE(ships(p, "ws/docs/Project.toml")) << "every member's project file: Pkg sees the same workspace";
  EXPECT_FALSE(ships(p, "ws/docs/make.jl"));
  EXPECT_FALSE(ships(p, "ws/data/big.bin"));
  EXPECT_FALSE(ships(p, "old/Old/Project.toml"));
  // What ships is what Julia needs: within 1.2x of the files it reads.
  uint64_t needed = 0;
  for (const char* f : {"Project.toml", "Manifest.toml", "docs/Project.toml", "lib/Foo/Project.toml",
                        "lib/Foo/src/Foo.jl", "lib/Bar/Project.toml", "lib/Bar/src/Bar.jl",
                        "app/Project.toml", "app/Stale.toml", "app/Manifest.toml", "app/run.jl"})
    needed += fs::file_size(ws / f);
  EXPECT_LE(p.tree.bytes, needed * 12 / 10 + 1024) << "1 KiB for the activation metadata";
  expect_installed_resolves(p, t / "dest");
}

TEST(JuliaFidelity, NestedWorkspacesUseTheTopmostManifestThatExists) {
  TempDir t;
  const fs::path r = t / "r";
  write(r / "Project.toml", "[workspace]\nprojects = [\"mid\"]\n");
  write(r / "mid/Project.toml", "[workspace]\nprojects = [\"app\"]\n");
  write(r / "app-unlisted/Project.toml", "name = \"U\"\n");
  package(r / "mid/app", "App", "[deps]\nFoo = \"" + k_uuid_a + "\"\n");
  package(r / "pkgs/Foo", "Foo");
  const std::string manifest = "manifest_format = \"2.0\"\n[[deps.Foo]]\npath = \"";
  write(r / "Manifest.toml", manifest + "pkgs/Foo\"\n");
  write(r / "mid/Manifest.toml", manifest + "../pkgs/Foo\"\n");
  write(r / "mid/app/Manifest.toml", manifest + "../../pkgs/Foo\"\n");
  auto p = test::plan(r / "mid/app");
  EXPECT_EQ(p.env.manifest_file, r / "Manifest.toml");
  EXPECT_TRUE(ships(p, "r/mid/Project.toml"));
  expect_installed_resolves(p, t / "d1");
  fs::remove(r / "Manifest.toml");
  p = test::plan(r / "mid/app");
  EXPECT_EQ(p.env.manifest_file, r / "mid/Manifest.toml") << "the root has none: the next level's";
  expect_installed_resolves(p, t / "d2");
  fs::remove(r / "mid/Manifest.toml");
  EXPECT_EQ(test::plan(r / "mid/app").env.manifest_file, r / "mid/app/Manifest.toml");
}

TEST(JuliaFidelity, WorkspaceProjectsAreComparedAsDirectoriesNotText) {
  TempDir t;
  write(t / "ws/Project.toml", "[workspace]\nprojects = [\"./Sub/\", \"lib//Foo\"]\n");
  write(t / "ws/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Foo]]\npath = \"lib/Foo\"\n");
  package(t / "ws/lib/Foo", "Foo");
  write(t / "ws/Sub/Project.toml", "[deps]\nFoo = \"" + k_uuid_a + "\"\n");
  const auto p = test::plan(t / "ws/Sub");
  EXPECT_EQ(p.env.manifest_file, t / "ws/Manifest.toml");
  expect_installed_resolves(p, t / "dest");
}

TEST(JuliaFidelity, MissingManifestKeyFallsBackToTheDirectorysManifest) {
  TempDir t;
  package(t / "X", "X");
  write(t / "p/Project.toml", "manifest = \"../Missing.toml\"\n[deps]\nX = \"" + k_uuid_a + "\"\n");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.X]]\npath = \"../X\"\n");
  const auto p = test::plan(t / "p");
  EXPECT_EQ(p.env.manifest_file, t / "p/Manifest.toml");
  ASSERT_EQ(p.env.warnings.size(), 1u);
  EXPECT_EQ(p.env.warnings[0],
            "Project.toml:1:12: manifest \"../Missing.toml\" does not exist: Julia uses Manifest.toml");
  expect_installed_resolves(p, t / "dest");
}

TEST(JuliaFidelity, TestOnlySourcesAreNotFollowedUnlessAskedFor) {
  TempDir t;
  // With a manifest, Julia reads no [sources] of dev packages: a missing test-only one is fine.
  package(t / "A", "A", "[extras]\nT = \"" + k_uuid_a + "\"\n[sources]\nT = {path = \"../gone/T\"}\n");
  write(t / "p/Project.toml", "[deps]\nA = \"" + k_uuid_a + "\"\n");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.A]]\npath = \"../A\"\n");
  EXPECT_EQ(dev_names(env::read_environment(at(t / "p"))), (std::vector<std::string>{"A"}));

  // Without one, Pkg resolves from [sources] of [deps]; test-only ones with --test-deps.
  package(t / "mono/B", "B");
  package(t / "mono/T", "T");
  write(t / "mono/T/big.dat", std::string(300000, 't'));
  package(t / "mono/A", "A",
          "[deps]\nB = \"" + k_uuid_a + "\"\n[weakdeps]\nW = \"" + k_uuid_a + "\"\n[extras]\nT = \"" +
              k_uuid_a + "\"\n[sources]\nB = {path = \"../B\"}\nT = {path = \"../T\"}\n");
  write(t / "mono/app/Project.toml", "[deps]\nA = \"" + k_uuid_a + "\"\n[extras]\nT = \"" + k_uuid_a +
                                         "\"\n[sources]\nA = {path = \"../A\"}\nT = {path = \"../T\"}\n");
  auto p = test::plan(t / "mono/app");
  EXPECT_EQ(dev_names(p.env), (std::vector<std::string>{"A", "B"}));
  EXPECT_FALSE(ships(p, "mono/T/big.dat"));
  auto o = at(t / "mono/app");
  o.test_deps = true;
  p = test::plan(o);
  EXPECT_EQ(dev_names(p.env), (std::vector<std::string>{"A", "B", "T"}));
  EXPECT_TRUE(ships(p, "mono/T/big.dat"));
}

// Pkg's validate (src/project.jl): a source must name a package of [deps]
// or [extras] (a weak dependency's is refused too), with known keys only.
TEST(JuliaFidelity, SourcesPkgsValidateRefuses) {
  TempDir t;
  package(t / "W", "W");
  write(t / "p/Project.toml", "[weakdeps]\nW = \"" + k_uuid_a + "\"\n[sources]\nW = {path = \"../W\"}\n");
  EXPECT_EQ(input_error(at(t / "p")), "Project.toml:4:5: sources.W is listed in neither [deps] nor [extras] "
                                      "(only in [weakdeps]) (Pkg refuses it: \"Sources for `W` not listed in "
                                      "`deps` or `extras` section\")");
  write(t / "p/Project.toml", "[sources]\nW = {path = \"../W\"}\n");
  EXPECT_EQ(input_error(at(t / "p")), "Project.toml:2:5: sources.W is listed in neither [deps] nor [extras] "
                                      "(Pkg refuses it: \"Sources for `W` not listed in `deps` or `extras` "
                                      "section\")");
  write(t / "p/Project.toml",
        "[deps]\nW = \"" + k_uuid_a + "\"\n[sources]\nW = {path = \"../W\", branch = \"main\"}\n");
  EXPECT_EQ(input_error(at(t / "p")),
            "Project.toml:4:30: sources.W: invalid key `branch` (Pkg knows path, url, rev and subdir)");
}

TEST(JuliaFidelity, ProjectSourcesMissingBesideAManifestIsAWarning) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nX = \"" + k_uuid_a + "\"\n[sources]\nX = {path = \"../X\"}\n");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.X]]\ngit-tree-sha1 = \"0\"\n");
  const auto e = env::read_environment(at(t / "p"));
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_EQ(e.warnings[0].rfind("Project.toml:4:13: sources.X: path \"../X\" does not exist", 0), 0u)
      << e.warnings[0];
  fs::remove(t / "p/Manifest.toml");
  EXPECT_EQ(input_error(at(t / "p")),
            "Project.toml:4:13: dev package X: path \"../X\" does not exist (" + (t / "X").string() + ")");
}

TEST(JuliaFidelity, WhatPkgRejectsAndWarnsAbout) {
  TempDir t;
  package(t / "X", "X");
  write(t / "p/Project.toml",
        "[deps]\nX = \"" + k_uuid_a +
            "\"\n\n[sources]\nX = {path = \"../X\", url = \"https://example.org/X.jl\"}\n");
  EXPECT_EQ(input_error(at(t / "p")),
            "Project.toml:5:5: sources.X: `path` and `url` cannot both be given (Pkg rejects it)");
  write(t / "p/Project.toml", "[deps]\nX = \"" + k_uuid_a + "\"\n");
  write(t / "p/Manifest.toml", "manifest_format = \"3.0\"\n[[deps.X]]\npath = \"../X\"\n");
  const auto e = env::read_environment(at(t / "p"));
  EXPECT_EQ(e.manifest_format, "3.0");
  EXPECT_EQ(dev_names(e), (std::vector<std::string>{"X"}));
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_EQ(e.warnings[0].rfind("Manifest.toml:1:19: unknown manifest_format \"3.0\"", 0), 0u)
      << e.warnings[0];
}

TEST(JuliaFidelity, KeysOfTheWrongTypeAreBadInputNotIgnored) {
  TempDir t;
  write(t / "a/Project.toml", "name = 5\n");
  EXPECT_EQ(input_error(at(t / "a")), "Project.toml:1:8: name must be a string");
  package(t / "X", "X");
  write(t / "b/Project.toml", "[deps]\nX = \"" + k_uuid_a + "\"\n");
  write(t / "b/Manifest.toml", "[[X]]\nuuid = \"" + k_uuid_a + "\"\npath = \"../X\"\ndeps = \"Y\"\n");
  EXPECT_EQ(input_error(at(t / "b")), "Manifest.toml:4:8: deps must be a table or an array");
  write(t / "c/Project.toml", "deps = [\"X\"]\n");
  EXPECT_EQ(input_error(at(t / "c")), "Project.toml:1:8: deps must be a table");
}

TEST(JuliaFidelity, PkgWorkspacePathResolutionFixture) {
  // Pkg.jl test/test_packages/WorkspacePathResolution: members refer to each other by relative [sources].
  TempDir t;
  const fs::path w = t / "WorkspacePathResolution";
  write(w / "Project.toml", "[workspace]\nprojects = [\n    \"SubProjectA\",\n    \"SubProjectB\",\n]");
  write(w / "SubProjectA/Project.toml",
        "name = \"SubProjectA\"\nuuid = \"87654321-4321-4321-4321-210987654321\"\nversion = \"0.1.0\"\n\n"
        "[deps]\nSubProjectB = \"12345678-1234-1234-1234-123456789012\"\n\n"
        "[sources]\nSubProjectB = {path = \"../SubProjectB\"}\n");
  write(w / "SubProjectA/src/SubProjectA.jl", "module SubProjectA end\n");
  write(w / "SubProjectB/Project.toml",
        "name = \"SubProjectB\"\nuuid = \"12345678-1234-1234-1234-123456789012\"\nversion = \"0.1.0\"");
  write(w / "SubProjectB/src/SubProjectB.jl", "module SubProjectB end\n");
  for (const char* project : {"", "SubProjectA", "SubProjectB"}) {
    const auto p = test::plan(w / project);
    EXPECT_TRUE(ships(p, "WorkspacePathResolution/Project.toml")) << project;
    if (std::string(project) == "SubProjectA") {
      EXPECT_EQ(dev_names(p.env), (std::vector<std::string>{"SubProjectB"}));
      EXPECT_TRUE(ships(p, "WorkspacePathResolution/SubProjectB/src/SubProjectB.jl"));
    }
  }
}

TEST(JuliaFidelity, GitIgnoredFilesStayHomeButTheManifestShips) {
  TempDir t;
  const fs::path repo = t / "model";
  write(repo / ".gitignore", "/conda-env/\n*.log\nManifest.toml\n/dev/\n");
  write(repo / "core/Project.toml", "[deps]\nLib = \"" + k_uuid_a + "\"\n");
  write(repo / "core/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Lib]]\npath = \"../dev/Lib\"\n");
  write(repo / "core/run.jl", "using Lib\n");
  write(repo / "core/out.log", std::string(100000, 'l'));
  write(repo / "core/notes-untracked.md", "kept: untracked but not ignored\n");
  package(repo / "dev/Lib", "Lib");
  write(repo / "dev/Lib/debug.log", "a dev package ignored as a whole by the repository ships whole\n");
  write(repo / "conda-env/lib/libhuge.so", std::string(400000, 'c'));
  git(repo, {"init", "-q", "."});
  git(repo, {"add", ".gitignore", "core/Project.toml", "core/run.jl"});
  git(repo, {"commit", "-q", "-m", "x"});
  auto o = at(repo / "core");
  auto p = test::plan(o);
  EXPECT_FALSE(ships(p, "model/core/out.log"));
  EXPECT_TRUE(ships(p, "model/core/notes-untracked.md"));
  EXPECT_TRUE(ships(p, "model/core/Manifest.toml")) << "the chosen manifest ships even when git ignores it";
  EXPECT_TRUE(ships(p, "model/dev/Lib/src/Lib.jl"));
  EXPECT_TRUE(ships(p, "model/dev/Lib/debug.log"));
  EXPECT_TRUE(p.tree.warnings.empty());
  expect_installed_resolves(p, t / "dest");
  // The whole repository as the project: git's view applies at every level.
  write(repo / "Project.toml", "name = \"Model\"\n");
  p = test::plan(repo);
  EXPECT_FALSE(ships(p, "model/conda-env/lib/libhuge.so"));
  EXPECT_FALSE(ships(p, "model/core/out.log"));
  o.gitignore = false;
  o.project_dir = repo;
  p = test::plan(o);
  EXPECT_TRUE(ships(p, "model/conda-env/lib/libhuge.so"));
  EXPECT_TRUE(ships(p, "model/core/out.log"));
}

TEST(JuliaFidelity, PrivateKeysAndCredentialsAreRefusedUnlessLeftOutOrAllowed) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  write(t / "p/conf/.ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n");
  try {
    test::plan(t / "p");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "conf/.ssh: an ssh directory (private keys): it would be copied to every machine of the job; leave "
        "it out (.distenvignore, or exclude in distenv.toml) or pass --allow-secrets");
  }
  write(t / "p/.distenvignore", ".ssh/\n");
  EXPECT_NO_THROW(test::plan(t / "p"));
  for (const char* name :
       {"keys/id_ed25519", ".netrc", "a/.git-credentials", ".config/gcloud/x.json", ".aws/credentials"}) {
    write(t / "p" / name, "secret\n");
    EXPECT_THROW(test::plan(t / "p"), InputError) << name;
    auto o = at(t / "p");
    o.allow_secrets = true;
    EXPECT_TRUE(ships(test::plan(o), std::string("p/") + name)) << name;
    fs::remove_all(t / "p" / fs::path(name).begin()->string());
  }
  write(t / "p/id_rsa.pub", "ssh-ed25519 AAAA public\n");
  EXPECT_NO_THROW(test::plan(t / "p")) << "a public key is not a secret";
}

TEST(JuliaFidelity, PackagesInsideTheProjectThatItDoesNotUseStayHome) {
  // A monorepo's root project: lib/ holds many packages, the manifest uses one.
  TempDir t;
  const fs::path repo = t / "mono";
  package(repo, "Mono", "[deps]\nUsed = \"" + k_uuid_a + "\"\n");
  write(repo / "Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Used]]\npath = \"lib/Used\"\n");
  package(repo / "lib/Used", "Used");
  package(repo / "lib/Other", "Other");
  write(repo / "lib/Other/big.dat", std::string(500000, 'o'));
  write(repo / "docs/Project.toml", "[deps]\n"); // an environment, not a package: it ships
  auto p = test::plan(repo);
  EXPECT_TRUE(ships(p, "mono/lib/Used/src/Used.jl"));
  EXPECT_TRUE(ships(p, "mono/docs/Project.toml"));
  EXPECT_FALSE(ships(p, "mono/lib/Other/big.dat"));
  EXPECT_EQ(p.tree.left_out, (std::vector<std::string>{"lib/Other"}));
  expect_installed_resolves(p, t / "dest");
  // Named in distenv.toml roots, or with --test-deps, it ships.
  write(repo / "distenv.toml", "roots = [\"lib/Other\"]\n");
  EXPECT_TRUE(ships(test::plan(repo), "mono/lib/Other/big.dat"));
  // A root distenv.toml names that holds packages (a depot's packages/, a
  // vendored set) ships whole: each of them is what the root is for.
  package(t / "vendor/Pkgs/A", "A");
  package(t / "vendor/Pkgs/B", "B");
  write(repo / "distenv.toml", "roots = [\"../vendor\"]\n");
  auto v = test::plan(repo);
  const std::string top = t.path().filename().string() + "/"; // the roots' common ancestor
  EXPECT_TRUE(ships(v, top + "vendor/Pkgs/A/src/A.jl"));
  EXPECT_TRUE(ships(v, top + "vendor/Pkgs/B/src/B.jl"));
  EXPECT_TRUE(ships(v, top + "mono/lib/Used/src/Used.jl"));
  EXPECT_FALSE(ships(v, top + "mono/lib/Other/big.dat")) << "the project's own unused ones still stay home";
  fs::remove(repo / "distenv.toml");
  auto o = at(repo);
  o.test_deps = true;
  EXPECT_TRUE(ships(test::plan(o), "mono/lib/Other/big.dat"));
}
