// Layout, the tree that ships, and the rewritten manifests resolving inside
// the install tree.
#include <distenv/cli/options.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/pipeline.hpp>
#include <distenv/util/error.hpp>

#include "support/errors.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <sys/stat.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

const layout::FileEntry* find(const layout::Tree& tree, const std::string& path) {
  for (const auto& e : tree.entries)
    if (e.path == path)
      return &e;
  return nullptr;
}

// Every `path` in a TOML file (manifest entries or [sources]) must resolve to
// a directory with a Project.toml inside `root`. Returns how many it checked.
size_t check_paths_resolve(const fs::path& file, const fs::path& root) {
  toml::table t = toml::parse_file(file.string());
  size_t checked = 0;
  auto check = [&](const toml::table& entry) {
    if (auto p = entry["path"].value<std::string>()) {
      fs::path dir = (file.parent_path() / *p).lexically_normal();
      EXPECT_FALSE(fs::path(*p).is_absolute()) << *p;
      EXPECT_TRUE(is_within(dir, root)) << dir << " not inside " << root;
      EXPECT_TRUE(fs::is_regular_file(dir / "Project.toml")) << dir;
      ++checked;
    }
  };
  auto packages = [&](const toml::table& table) {
    for (auto& [k, v] : table)
      if (auto* arr = v.as_array())
        for (auto& item : *arr)
          if (auto* entry = item.as_table())
            check(*entry);
  };
  if (t.contains("manifest_format")) {
    if (auto* deps = t["deps"].as_table())
      packages(*deps);
  } else if (file.filename().string().find("Manifest") != std::string::npos) {
    packages(t);
  }
  if (auto* sources = t["sources"].as_table())
    for (auto& [k, v] : *sources)
      if (auto* entry = v.as_table())
        check(*entry);
  return checked;
}

std::string input_error(const fs::path& project) {
  return test::error_of<InputError>([&] { test::plan(project); });
}

} // namespace

TEST(Layout, MirrorsRootsUnderTheirCommonAncestor) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  auto p = test::plan(t / "home/u/proj");
  EXPECT_EQ(p.layout.prefix, t / "home");
  EXPECT_EQ(p.layout.project, "u/proj");
  EXPECT_EQ(p.layout.to_install(t / "home/u/dev/Foo/sub/Bar"), "u/dev/Foo/sub/Bar");
}

TEST(Layout, ProjectAloneKeepsItsName) {
  TempDir t;
  write(t / "alone/distenv.toml", "");
  auto p = test::plan(t / "alone");
  EXPECT_EQ(p.layout.project, "alone");
  EXPECT_NE(find(p.tree, "alone/distenv.toml"), nullptr);
}

TEST(Tree, IgnoreRulesGitAndNestedRootsShipOnce) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  write(t / "home/u/proj/.git/HEAD", "ref: refs/heads/main\n");
  write(t / "home/u/dev/Foo/.git", "gitdir: ../.git/modules/Foo\n");
  auto p = test::plan(t / "home/u/proj");
  EXPECT_EQ(find(p.tree, "u/proj/scratch"), nullptr);
  EXPECT_EQ(find(p.tree, "u/proj/scratch/tmp.txt"), nullptr);
  EXPECT_EQ(find(p.tree, "u/proj/run.log"), nullptr);
  EXPECT_EQ(find(p.tree, "u/proj/.git/HEAD"), nullptr);
  EXPECT_EQ(find(p.tree, "u/dev/Foo/.git"), nullptr);
  ASSERT_NE(find(p.tree, "u/proj/empty.txt"), nullptr);
  EXPECT_EQ(find(p.tree, "u/proj/empty.txt")->size, 0u);
  size_t inner = 0;
  for (const auto& e : p.tree.entries)
    inner += e.path == "u/proj/lib/Inner/src/Inner.jl";
  EXPECT_EQ(inner, 1u);
  ASSERT_NE(find(p.tree, layout::k_metadata_path), nullptr);
  EXPECT_TRUE(std::is_sorted(p.tree.entries.begin(), p.tree.entries.end(),
                             [](auto& a, auto& b) { return a.path < b.path; }));
}

TEST(Tree, InstalledManifestResolvesEveryDevPackageInside) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  auto p = test::plan(t / "home/u/proj");
  auto r = test::install_locally(p, t / "dest");
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(check_paths_resolve(r.dir / "u/proj/Manifest.toml", r.dir), 3u);
  // Unknown tables and comments survive the rewrite.
  std::string manifest = test::slurp(r.dir / "u/proj/Manifest.toml");
  EXPECT_NE(manifest.find("path = \"../dev/Foo\"   # dev'ed next to the project"), std::string::npos);
  EXPECT_NE(manifest.find("[deps.Foo.weakdeps]"), std::string::npos);
  auto meta = nlohmann::json::parse(test::slurp(r.dir / layout::k_metadata_path));
  EXPECT_EQ(meta["project"], "u/proj");
  EXPECT_EQ(meta["manifest"], "u/proj/Manifest.toml");
  EXPECT_EQ(meta["dev_packages"].size(), 3u);
}

TEST(Tree, AbsoluteDevPathsBecomeRelative) {
  TempDir t;
  write(t / "a/b/dev/Abs/Project.toml", "name = \"Abs\"\n");
  write(t / "x/proj/Project.toml", "[deps]\nAbs = \"1\"\n");
  write(t / "x/proj/Manifest.toml", "[[Abs]]\npath = \"" + (t / "a/b/dev/Abs").string() + "\"\n");
  auto p = test::plan(t / "x/proj");
  ASSERT_EQ(p.tree.rewritten.size(), 1u);
  EXPECT_EQ(p.tree.rewritten[0].rewritten, "../../a/b/dev/Abs");
  auto r = test::install_locally(p, t / "dest");
  EXPECT_EQ(check_paths_resolve(r.dir / p.layout.project / "Manifest.toml", r.dir), 1u);
}

TEST(Tree, SourcesChainsAreRewrittenInEveryProject) {
  TempDir t;
  test::copy_fixture("julia-sources", t.path());
  auto p = test::plan(t / "repo/app");
  auto r = test::install_locally(p, t / "dest");
  EXPECT_EQ(check_paths_resolve(r.dir / "repo/app/Project.toml", r.dir), 1u);
  EXPECT_EQ(check_paths_resolve(r.dir / "repo/lib/A/Project.toml", r.dir), 1u);
  EXPECT_EQ(check_paths_resolve(r.dir / "repo/lib/B/Project.toml", r.dir), 1u);
  EXPECT_NE(test::slurp(r.dir / "repo/app/Project.toml").find("url = \"https://github.com"),
            std::string::npos);
}

TEST(Tree, WorkspaceRootShipsAndItsManifestResolves) {
  TempDir t;
  test::copy_fixture("julia-workspace", t.path());
  auto p = test::plan(t / "ws/app");
  EXPECT_EQ(p.layout.project, "ws/app");
  auto r = test::install_locally(p, t / "dest");
  EXPECT_EQ(check_paths_resolve(r.dir / "ws/Manifest.toml", r.dir), 1u);
  EXPECT_TRUE(fs::is_regular_file(r.dir / "ws/Project.toml"));
  EXPECT_TRUE(fs::is_regular_file(r.dir / "ws/app/main.jl"));
}

TEST(Tree, ManifestKeyOutsideTheProjectShipsAndResolves) {
  TempDir t;
  write(t / "repo/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.X]]\npath = \"pkgs/X\"\n");
  write(t / "repo/pkgs/X/Project.toml", "name = \"X\"\n");
  write(t / "repo/app/Project.toml", "manifest = \"../Manifest.toml\"\n[deps]\nX = \"1\"\n");
  auto p = test::plan(t / "repo/app");
  auto r = test::install_locally(p, t / "dest");
  EXPECT_EQ(check_paths_resolve(r.dir / "repo/Manifest.toml", r.dir), 1u);
}

TEST(Tree, VersionedManifestIsTheOneRewritten) {
  TempDir t;
  test::copy_fixture("julia-versioned", t.path());
  auto p = test::plan(t / "proj", std::make_pair(1, 10));
  auto r = test::install_locally(p, t / "dest");
  EXPECT_EQ(check_paths_resolve(r.dir / p.layout.project / "Manifest-v1.10.toml", r.dir), 1u);
}

TEST(Tree, SymlinksInsideShipRelative) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  const fs::path foo = t / "home/u/dev/Foo";
  fs::create_symlink("src/Foo.jl", foo / "rel.jl");
  fs::create_symlink(foo / "src", foo / "abs-src");
  fs::create_symlink("../../../proj/sweep.jl", foo / "src/cross.jl"); // into another root
  auto p = test::plan(t / "home/u/proj");
  ASSERT_NE(find(p.tree, "u/dev/Foo/abs-src"), nullptr);
  EXPECT_EQ(find(p.tree, "u/dev/Foo/abs-src")->link_target, "src");
  auto r = test::install_locally(p, t / "dest");
  EXPECT_EQ(fs::read_symlink(r.dir / "u/dev/Foo/rel.jl"), "src/Foo.jl");
  EXPECT_EQ(test::slurp(r.dir / "u/dev/Foo/abs-src/Foo.jl"), "module Foo end\n");
  EXPECT_EQ(test::slurp(r.dir / "u/dev/Foo/src/cross.jl"), "println(\"sweep\")\n");
}

TEST(TreeErrors, SymlinkOutOfTheEnvironment) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  fs::create_symlink("/etc/passwd", t / "p/passwd");
  EXPECT_EQ(input_error(t / "p"), "passwd: symlink to /etc/passwd points outside the environment; "
                                  "add it to .distenvignore or ship its target (distenv.toml roots)");
  fs::remove(t / "p/passwd");
  fs::create_symlink("../../x", t / "p/up");
  EXPECT_EQ(input_error(t / "p"), "up: symlink to ../../x points outside the environment; "
                                  "add it to .distenvignore or ship its target (distenv.toml roots)");
  fs::remove(t / "p/up");
  fs::create_directories(t / "p/d");
  fs::create_symlink("../d/../distenv.toml", t / "p/d/odd");
  EXPECT_EQ(input_error(t / "p"), "d/odd: symlink to ../d/../distenv.toml: symlink target has '..' after a "
                                  "name; add it to .distenvignore or point it straight at its target");
  write(t / "p/.distenvignore", "odd\n");
  EXPECT_EQ(input_error(t / "p"), "no error");
}

TEST(TreeErrors, NamedPipe) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  ASSERT_EQ(::mkfifo((t / "p/fifo").c_str(), 0644), 0);
  EXPECT_EQ(input_error(t / "p"), "fifo: a named pipe cannot ship; add it to .distenvignore");
}

TEST(Tree, ManyFilesAndExecutableBits) {
  TempDir t;
  write(t / "p/distenv.toml", "");
  for (int i = 0; i < 3000; ++i)
    write(t / ("p/d" + std::to_string(i % 37) + "/f" + std::to_string(i)), std::to_string(i));
  write(t / "p/run.sh", "#!/bin/sh\n");
  fs::permissions(t / "p/run.sh", fs::perms(0750));
  fs::permissions(t / "p/d1/f1", fs::perms(0600));
  auto p = test::plan(t / "p");
  EXPECT_EQ(p.tree.files, 3000u + 2u /* distenv.toml, run.sh */ + 1u /* metadata */);
  EXPECT_EQ(find(p.tree, "p/run.sh")->mode, 0755u);
  EXPECT_EQ(find(p.tree, "p/d1/f1")->mode, 0644u);
}

// What distenv and its job templates write next to a project (logs of a
// batch job submitted from it, collected results, the report) is never part
// of the environment, or every job would be a new one.
TEST(Layout, JobLogsResultsAndTheReportNeverShip) {
  TempDir t;
  write(t / "p/distenv.toml", "exclude = [\"!/slurm-keep.out\"]\n");
  for (const char* f :
       {"run.py", "slurm-1234.out", "distenv-77.out", "distenv.o555", "distenv-results/1/node1/x",
        "report.json", "slurm-keep.out", "sub/slurm-9.out", "distenv-notes.txt"})
    write(t / "p" / f, "x\n");
  cli::Options o;
  o.project = t / "p";
  o.dest = t / "store";
  o.report = t / "p/report.json";
  const Prepared prepared = prepare(o);
  std::vector<std::string> shipped;
  for (const auto& e : prepared.tree.entries)
    if (e.type == hash::EntryType::file)
      shipped.push_back(fs::path(e.path).filename().string());
  std::sort(shipped.begin(), shipped.end());
  EXPECT_EQ(shipped, (std::vector<std::string>{"distenv-notes.txt", "distenv.toml", "environment.json",
                                               "run.py", "slurm-9.out", "slurm-keep.out"}))
      << "logs at the top of the project, results and the report are left out; a rule can take one back";
}
