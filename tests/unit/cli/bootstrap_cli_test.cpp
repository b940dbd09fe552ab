// distenv-bootstrap as a user runs it: --plan, --report, local install,
// --pack-to/--install-from, and bad input (exit 2, one line, nothing written).
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

using namespace distenv;
using distenv::test::run_bootstrap;
using distenv::test::TempDir;
namespace fs = boost::filesystem;
using distenv::test::write;

namespace {

// Bad input: exit code 2, exactly one line on stderr, nothing under --dest.
// The job (here a single machine, no mpirun) names the machine; --plan,
// which is not a job, does not.
void expect_bad_input(std::vector<std::string> args, const fs::path& dest, const std::string& message,
                      bool job = true) {
  if (!job)
    args.insert(args.begin(), "--plan");
  auto r = run_bootstrap(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "distenv: error: " + (job ? machine_name() + ": " : "") + message + "\n");
  EXPECT_FALSE(fs::exists(dest)) << "bad input wrote under --dest";
}

} // namespace

TEST(Cli, PlanPrintsRootsDevPackagesAndHashAndWritesNothing) {
  TempDir t;
  test::copy_fixture("julia-v2", t.path());
  const std::string project = (t / "home/u/proj").string();
  // The fixture's registered package (Example) is in no depot here: a job
  // would stop before it starts, naming it (env::julia_closure) ...
  auto r = run_bootstrap({"--plan", "-p", project, "-d", (t / "dest").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(
      r.err.find("Manifest.toml:13:17: Example (7876af07-990d-54b4-ab0e-23690620f79a) is in no depot here"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("Pkg.instantiate()"), std::string::npos) << r.err;
  // ... unless the machines have their own depots.
  r = run_bootstrap({"--plan", "-p", project, "-d", (t / "dest").string(), "--depot", "none", "--report",
                     (t / "plan.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(test::slurp(t / "plan.json"));
  const std::string hash = j["tree_hash"];
  EXPECT_EQ(hash.size(), 32u);
  EXPECT_NE(r.out.find("tree hash    " + hash), std::string::npos) << r.out;
  EXPECT_NE(r.out.find((t / "home/u/dev/Foo").string() + " -> u/dev/Foo"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Manifest.toml:19:8  \"../dev/Foo\" unchanged  (resolves to u/dev/Foo)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(j["dev_packages"].size(), 3u);
  EXPECT_EQ(j["roots"].size(), 4u);
  EXPECT_EQ(j["project_dir"], (t / "dest/envs" / hash / "u/proj").string());
  EXPECT_FALSE(fs::exists(t / "dest"));
}

// Without mpirun it is a one-machine job (an MPI singleton).
TEST(Cli, WithoutMpirunInstallsThenReuses) {
  TempDir t;
  test::copy_fixture("generic", t.path());
  const std::string project = (t / "work/app").string(), dest = (t / "dest").string();
  auto first = run_bootstrap({"-p", project, "-d", dest, "--report", (t / "1.json").string(), "--", "true"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto one = nlohmann::json::parse(test::slurp(t / "1.json"));
  EXPECT_EQ(one["per_machine"][0]["install"], "received");
  EXPECT_EQ(one["per_machine"][0]["workers"].size(), static_cast<size_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
  auto second = run_bootstrap({"-p", project, "-d", dest, "--report", (t / "2.json").string()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto two = nlohmann::json::parse(test::slurp(t / "2.json"));
  EXPECT_EQ(two["per_machine"][0]["install"], "reused");
  EXPECT_EQ(two["archive_bytes"], 0);
  // distenv.toml's default command ran: python3 run.py printed "run" per worker.
  EXPECT_NE(second.out.find("] run\n"), std::string::npos) << second.out;
}

TEST(Cli, PackToFileAndInstallFromFile) {
  TempDir t;
  test::copy_fixture("generic", t.path());
  auto packed = run_bootstrap({"-p", (t / "work/app").string(), "--pack-to", (t / "env.tar.zst").string(),
                               "--report", (t / "r.json").string()});
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  const std::string hash = nlohmann::json::parse(test::slurp(t / "r.json"))["tree_hash"];
  auto wrong = run_bootstrap({"--install-from", (t / "env.tar.zst").string(), "--tree-hash",
                              std::string(32, '0'), "-d", (t / "dest").string()});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(wrong.err, "distenv: error: received environment does not match its hash: expected " +
                           std::string(32, '0') + ", got " + hash + "\n");
  EXPECT_FALSE(fs::exists(t / "dest/envs" / std::string(32, '0')));
  auto ok = run_bootstrap(
      {"--install-from", (t / "env.tar.zst").string(), "--tree-hash", hash, "-d", (t / "dest").string()});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(test::slurp(t / "dest/envs" / hash / "work/app/run.py"), "print(\"run\")\n");
  EXPECT_FALSE(fs::exists(t / "dest/envs" / hash / "work/app/build"));
  EXPECT_FALSE(fs::exists(t / "dest/envs" / hash / "work/app/cache.pyc"));
}

TEST(CliErrors, BadInputExitsTwoAndWritesNothing) {
  TempDir t;
  const fs::path dest = t / "dest";
  const std::string d = dest.string();
  write(t / "malformed/Project.toml", "[deps]\nX = \"1\"\n");
  write(t / "malformed/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.X]]\npath = \"../X\"\nuuid = \n");
  expect_bad_input({"-p", (t / "malformed").string(), "-d", d}, dest,
                   "Manifest.toml:4:8: error while parsing key-value pair: expected value, saw '\\n'");
  write(t / "missing/Project.toml", "[deps]\nGone = \"1\"\n");
  write(t / "missing/Manifest.toml", "[[Gone]]\npath = \"../Gone\"\n");
  expect_bad_input({"-p", (t / "missing").string(), "-d", d}, dest,
                   "Manifest.toml:2:8: dev package Gone: path \"../Gone\" does not exist (" +
                       (t / "Gone").string() + ")");
  write(t / "noproject/Manifest.toml", "");
  expect_bad_input({"-p", (t / "noproject").string(), "-d", d}, dest,
                   "Manifest.toml has no Project.toml or JuliaProject.toml next to it (looked in " +
                       (t / "noproject").string() + ")");
  // [deps] without a manifest: Julia would load none of them; said, not refused.
  write(t / "nomanifest/Project.toml", "[deps]\nX = \"1\"\n");
  auto warned = run_bootstrap({"--plan", "-p", (t / "nomanifest").string(), "-d", d});
  EXPECT_EQ(warned.exit_code, 0) << warned.err;
  EXPECT_NE(warned.err.find("distenv: warning: Project.toml lists [deps] but there is no manifest in " +
                            (t / "nomanifest").string()),
            std::string::npos)
      << warned.err;
  write(t / "X/Project.toml", "name = \"A\"\n");
  write(t / "twice/Project.toml", "[deps]\nA = \"1\"\n");
  write(t / "twice/Manifest.toml", "[[A]]\npath = \"../X\"\n[[B]]\npath = \"../X/\"\n");
  expect_bad_input({"-p", (t / "twice").string(), "-d", d}, dest,
                   "Manifest.toml:4:8: dev package B: " + (t / "X/Project.toml").string() +
                       " is the package \"A\", not B");
  expect_bad_input({"-p", (t / "twice").string(), "-d", d, "--chunk-size", "1"}, dest,
                   "--chunk-size 1: expected auto or a size between 4KiB and 1GiB", false);
  expect_bad_input({"-p", (t / "twice").string(), "-d", d, "--julia-version", "one"}, dest,
                   "--julia-version one: expected MAJOR.MINOR, e.g. 1.10", false);
  expect_bad_input({"-d", d, "--workers", "0"}, dest,
                   "--workers 0: expected a number of workers (1 or more) or auto", false);
  expect_bad_input({"--no-such-option"}, dest,
                   "The following argument was not expected: --no-such-option; see --help", false);
}

// An unreadable file names its path and the OS error. As root every file is
// readable, so the check runs as user nobody (setpriv, from util-linux).
TEST(CliErrors, UnreadableFile) {
  TempDir t;
  fs::permissions(t.path(), fs::perms(0755));
  write(t / "p/distenv.toml", "");
  write(t / "p/secret.dat", "x");
  fs::permissions(t / "p/secret.dat", fs::perms(0));
  std::vector<std::string> args{DISTENV_BOOTSTRAP,  "--plan", "-p",
                                (t / "p").string(), "-d",     (t / "dest").string()};
  if (::geteuid() == 0)
    args.insert(args.begin(), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  auto r = test::run_process(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "distenv: error: " + (t / "p/secret.dat").string() + ": permission denied\n");
  EXPECT_FALSE(fs::exists(t / "dest"));
}

TEST(CliHardening, TooManyWorkersIsBadInput) {
  TempDir t;
  expect_bad_input({"-d", (t / "dest").string(), "--workers", "100000000"}, t / "dest",
                   "--workers 100000000: at most 4096 workers per machine", false);
}

TEST(CliHardening, NumbersThatAreNotFiniteAreBadInput) {
  TempDir t;
  for (const char* value : {"nan", "inf", "-1", "5s"})
    expect_bad_input({"-d", (t / "dest").string(), "--grace", value}, t / "dest",
                     fmt::format("--grace: expected a number from 0 to 3600, got '{}'; see --help", value),
                     false);
}

TEST(CliHardening, AStoreInsideTheProjectIsNeverShipped) {
  TempDir t;
  write(t / "p/distenv.toml", "command = [\"true\"]\n");
  write(t / "p/run.sh", "echo hi\n");
  const std::string dest = (t / "p/store").string();
  ASSERT_EQ(run_bootstrap({"-p", (t / "p").string(), "-d", dest, "-q"}).exit_code, 0); // a first job fills it
  const auto r = run_bootstrap({"--plan", "-p", (t / "p").string(), "-d", dest});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "distenv: warning: store: the store (--dest) lies inside the environment: left out\n");
  EXPECT_NE(r.out.find("ships        3 files"), std::string::npos)
      << "distenv.toml, run.sh and the metadata:\n"
      << r.out;
}

TEST(CliHardening, ARootThatIsItselfASecretIsRefused) {
  TempDir t;
  write(t / "home/.ssh/id_ed25519", "key\n");
  write(t / "p/distenv.toml", "roots = [\"../home/.ssh\"]\n");
  expect_bad_input({"-p", (t / "p").string(), "-d", (t / "dest").string()}, t / "dest",
                   (t / "home/.ssh").string() +
                       ": an ssh directory (private keys): it would be copied to every "
                       "machine of the job; pass --allow-secrets if that is meant",
                   false);
}

TEST(CliHardening, InstallFromADirectoryIsBadInputAndWritesNothing) {
  TempDir t;
  fs::create_directories(t / "not-an-archive");
  auto r = run_bootstrap({"--install-from", (t / "not-an-archive").string(), "-d", (t / "dest").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "distenv: error: " + (t / "not-an-archive").string() +
                       ": is a directory, not a packed environment\n");
  EXPECT_FALSE(fs::exists(t / "dest"));
}

TEST(CliHardening, ReportThatCannotBeWrittenIsBadInputBeforeTheJob) {
  TempDir t;
  test::copy_fixture("generic", t.path());
  auto r = run_bootstrap({"-p", (t / "work/app").string(), "-d", (t / "dest").string(), "--report",
                          (t / "no/dir/r.json").string(), "--", "sh", "-c", "echo RAN"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "distenv: error: " + machine_name() + ": --report " + (t / "no/dir/r.json").string() +
                       ": directory " + (t / "no/dir").string() + ": no such file or directory\n");
  EXPECT_EQ(r.out.find("RAN"), std::string::npos);
  EXPECT_FALSE(fs::exists(t / "dest"));
  auto p = run_bootstrap({"-p", (t / "work/app").string(), "--pack-to", (t / "work").string()});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_EQ(p.err, "distenv: error: --pack-to " + (t / "work").string() + ": is a directory\n");
}

TEST(CliHardening, ModesExcludeEachOtherAndTakeNoCommand) {
  TempDir t;
  const std::string d = (t / "dest").string();
  expect_bad_input({"--status", "-d", d}, t / "dest",
                   "--plan and --status cannot be used together: each is a mode of its own", false);
  expect_bad_input(
      {"-d", d, "extra"}, t / "dest",
      "--plan takes no worker command (got 'extra'); run the job without --plan to start workers", false);
  expect_bad_input({"--tree-hash", "abc", "-d", d}, t / "dest",
                   "--tree-hash needs --install-from (a job checks the hash of what it sends by itself)",
                   false);
}

// Workers run in the installed project: every path they are given is
// absolute, whatever directory distenv was started in.
TEST(CliHardening, RelativeDestAndProjectBecomeAbsolute) {
  TempDir t;
  test::copy_fixture("generic", t.path());
  auto r = test::run_process({"sh", "-c",
                              "cd " + t.path().string() + " && exec " + DISTENV_BOOTSTRAP +
                                  " -p work/app -d ./store -w 1 -- sh -c 'echo \"ROOT=$DISTENV_ROOT\"; "
                                  "echo \"PROJECT=$DISTENV_PROJECT\"'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string root = (t / "store/projects/work-app").string(); // the project's stable place
  EXPECT_NE(r.out.find("] ROOT=" + root + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("] PROJECT=" + root + "/work/app\n"), std::string::npos) << r.out;
}

// A directory name that is not UTF-8 (Latin-1 here) travels through plans,
// metadata and reports.
TEST(CliHardening, ProjectNameThatIsNotUtf8) {
  TempDir t;
  const fs::path project = t / "caf\xe9";
  write(project / "distenv.toml", "command = [\"sh\", \"-c\", \"echo \\\"P=$DISTENV_PROJECT\\\"\"]\n");
  write(project / "data.txt", "x\n");
  auto plan = run_bootstrap({"--plan", "-p", project.string(), "--report", (t / "plan.json").string()});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_TRUE(nlohmann::json::accept(test::slurp(t / "plan.json")));
  auto r = run_bootstrap(
      {"-p", project.string(), "-d", (t / "dest").string(), "-w", "1", "--report", (t / "r.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("/caf\xe9\n"), std::string::npos) << r.out;
  EXPECT_TRUE(nlohmann::json::accept(test::slurp(t / "r.json")));
}

TEST(CliHardening, RootsThatAreTheFileSystemOrAHomeAreRefused) {
  TempDir t;
  const fs::path dest = t / "dest";
  write(t / "slash/distenv.toml", "roots = [\"/\"]\n");
  expect_bad_input(
      {"-p", (t / "slash").string(), "-d", dest.string()}, dest,
      "distenv.toml:1:9: \"/\" is the whole file system (/): name the directories the environment "
      "needs",
      false);
  // A dev package path that climbs into the home directory (Pkg's own
  // fixtures have this shape): it would ship ~/.ssh.
  write(t / "home/u/.ssh/id_rsa", "secret\n");
  write(t / "home/u/proj/Project.toml", "[deps]\nUp = \"1\"\n");
  write(t / "home/u/proj/Manifest.toml", "[[Up]]\npath = \"..\"\n");
  auto r = test::run_process({DISTENV_BOOTSTRAP, "--plan", "-p", (t / "home/u/proj").string()},
                             {"HOME=" + (t / "home/u").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err,
            "distenv: error: Manifest.toml:2:8: \"..\" is the home directory " + (t / "home/u").string() +
                ": everything in it would ship (ssh keys, shell history, ...); name the directories the "
                "environment needs\n");
}

// Julia fidelity through the command line: a workspace member plans with the
// root's manifest and ships only what that manifest uses; a secret in a
// root is bad input until it is left out; the user's switches.
TEST(CliJulia, WorkspaceMemberShipsWhatTheRootManifestUses) {
  TempDir t;
  const fs::path ws = t / "ws";
  write(ws / "Project.toml", "[workspace]\nprojects = [\"./core/\"]\n");
  write(ws / "Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Lib]]\npath = \"lib/Lib\"\n");
  write(ws / "lib/Lib/Project.toml", "name = \"Lib\"\n");
  write(ws / "lib/Lib/src/Lib.jl", "module Lib end\n");
  write(ws / "core/Project.toml",
        "manifest = \"" + (ws / "core/Stale.toml").string() + "\"\n[deps]\nLib = \"1\"\n");
  write(ws / "core/Stale.toml", "manifest_format = \"2.0\"\n");
  write(ws / "python/big.bin", std::string(1 << 20, 'p'));
  auto r = run_bootstrap({"--plan", "-p", (ws / "core").string(), "-d", (t / "dest").string(), "--report",
                          (t / "plan.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(test::slurp(t / "plan.json"));
  EXPECT_EQ(j["manifest"], (ws / "Manifest.toml").string());
  EXPECT_LT(j["bytes"].get<uint64_t>(), 4096u) << r.out;
  EXPECT_NE(r.out.find("single files (their directories do not ship):"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find((ws / "Manifest.toml").string() + " -> ws/Manifest.toml"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CliJulia, SecretsAreBadInputUntilLeftOutOrAllowed) {
  TempDir t;
  const std::string d = (t / "dest").string();
  write(t / "p/distenv.toml", "");
  write(t / "p/.netrc", "machine example.org password x\n");
  expect_bad_input({"-p", (t / "p").string(), "-d", d}, t / "dest",
                   ".netrc: a credentials file: it would be copied to every machine of the job; leave it out "
                   "(.distenvignore, or exclude in distenv.toml) or pass --allow-secrets",
                   false);
  auto r = run_bootstrap({"--plan", "--allow-secrets", "-p", (t / "p").string(), "-d", d});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  write(t / "p/distenv.toml", "exclude = [\".netrc\"]\n");
  r = run_bootstrap({"--plan", "-p", (t / "p").string(), "-d", d});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliJulia, DevPathThatIsNotThePackageIsBadInput) {
  TempDir t;
  write(t / "p/Project.toml", "[deps]\nFoo = \"1\"\n");
  write(t / "p/Manifest.toml", "manifest_format = \"2.0\"\n[[deps.Foo]]\npath = \"../Other\"\n");
  write(t / "Other/Project.toml", "name = \"Other\"\n");
  expect_bad_input({"-p", (t / "p").string(), "-d", (t / "dest").string()}, t / "dest",
                   "Manifest.toml:3:8: dev package Foo: " + (t / "Other/Project.toml").string() +
                       " is the package \"Other\", not Foo");
}

TEST(CliOutput, ColourOnlyWhenAskedForOrOnATerminal) {
  TempDir t;
  const std::string missing = (t / "missing").string();
  auto r = run_bootstrap({"--plan", "-p", missing, "--color", "always"});
  EXPECT_EQ(r.err, "distenv: \x1b[1;31merror:\x1b[0m " + missing + ": no such directory\n");
  r = run_bootstrap({"--plan", "-p", missing}); // auto, and stderr is a pipe here
  EXPECT_EQ(r.err, "distenv: error: " + missing + ": no such directory\n");
  r = run_bootstrap({"--plan", "-p", missing, "--color", "never"});
  EXPECT_EQ(r.err, "distenv: error: " + missing + ": no such directory\n");
  r = run_bootstrap({"--plan", "-p", missing, "--color", "blue"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "distenv: error: --color: blue not in {auto,always,never}; see --help\n");
  r = run_bootstrap({"--plan", "--colour", "never"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "distenv: error: unknown option --colour (did you mean --color?); see --help\n");
}

TEST(CliOutput, QuietKeepsErrorsAndWorkerOutputOnly) {
  TempDir t;
  test::copy_fixture("generic", t.path());
  auto r = run_bootstrap({"-q", "-p", (t / "work/app").string(), "-d", (t / "dest").string(), "--", "sh",
                          "-c", "echo WORKER-SAYS"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("WORKER-SAYS"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("distenv:"), std::string::npos) << r.out;
}

TEST(CliOutput, VerboseGivesEachMachinesTimePerPhase) {
  TempDir t;
  test::copy_fixture("generic", t.path());
  auto r = run_bootstrap({"-v", "-p", (t / "work/app").string(), "-d", (t / "dest").string(), "--report",
                          (t / "r.json").string(), "--", "true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" seconds: machines "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" transfer "), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(test::slurp(t / "r.json"));
  EXPECT_TRUE(j["per_machine"][0]["phase_seconds"].contains("each_machine")) << j.dump();
}

// --runtime ship: the Julia installation on PATH here (the directory above
// its bin) is one more unit of the store's depot, its links to files outside
// itself shipped as those files, its bin first on the workers' PATH.
TEST(CliJulia, RuntimeShipShipsTheJuliaOnPathWithItsOutsideLinksAsFiles) {
  TempDir t;
  test::copy_fixture("julia-v1", t.path());
  write(t / "jl/bin/julia", "#!/bin/sh\necho \"julia at $0\"\n");
  ::chmod((t / "jl/bin/julia").c_str(), 0755);
  write(t / "jl/lib/julia/sys.so", "a system image");
  write(t / "system/libgmp.so.10", "the system's library");
  fs::create_symlink(t / "system/libgmp.so.10", t / "jl/lib/libgmp.so.10");
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", ((t / "jl/bin").string() + ":" + saved).c_str(), 1);
  const std::string project = (t / "proj").string(), dest = (t / "dest").string();
  auto plan = run_bootstrap({"--plan", "--runtime", "ship", "-p", project, "-d", dest});
  auto job = run_bootstrap({"--runtime", "ship", "-w", "1", "-p", project, "-d", dest, "--", "julia"});
  write(t / "gen/distenv.toml", "runtime = \"sh\"\ncommand = [\"true\"]\n");
  auto generic = run_bootstrap({"--plan", "--runtime", "ship", "-p", (t / "gen").string(), "-d", dest});
  ::setenv("PATH", saved.c_str(), 1);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("<- " + fs::canonical(t / "jl").string() + "  (the Julia runtime"),
            std::string::npos)
      << plan.out;
  ASSERT_EQ(job.exit_code, 0) << job.err;
  const std::string marker = "julia at " + dest + "/depot/runtimes/julia-";
  const size_t at = job.out.find(marker);
  ASSERT_NE(at, std::string::npos) << job.out;
  const std::string unit = job.out.substr(at + marker.size() - 6, 6 + 16);
  EXPECT_EQ(test::slurp(fs::path(dest) / "depot/runtimes" / unit / "lib/libgmp.so.10"),
            "the system's library");
  EXPECT_FALSE(fs::is_symlink(fs::path(dest) / "depot/runtimes" / unit / "lib/libgmp.so.10"));
  EXPECT_NE(job.out.find("/depot: the Julia runtime ("), std::string::npos) << job.out;
  EXPECT_EQ(generic.exit_code, 2);
  EXPECT_NE(
      generic.err.find("--runtime ship ships a Julia installation; this environment is not a Julia project"),
      std::string::npos)
      << generic.err;
}
