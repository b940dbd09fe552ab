// The job's cross-machine logic, end to end, with machines as threads of
// this process (the fake Comm) and a fake process runner: every phase
// failing on one machine, rank 0 failing mid-stream, a receiver's install
// failing mid-stream, shared stores, several ranks per machine, worker
// numbering, the report failing, and a randomized soak. Each job runs under
// a watchdog: a hang is a failure, never a stuck test run.
#include "support/fake_cluster.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <distenv/util/files.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/workers/activation.hpp>

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <random>

namespace distenv::test {
namespace {

const std::vector<std::string> k_phases = {"read",         "check",   "transfer", "activate",
                                           "each_machine", "workers", "report"};

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s)
    c = static_cast<char>(rng());
  return s;
}

class FakeCluster : public ::testing::Test {
protected:
  void SetUp() override {
    project = dir / "src/proj";
    write(project / "distenv.toml", "runtime = \"sh\"\n"
                                    "runtime_hint = \"apt-get install dash\"\n"
                                    "command = [\"sh\", \"-c\", \"echo work\"]\n"
                                    "each_machine = [\"echo prepared\"]\n");
    write(project / "a.txt", "hello\n");
    write(project / "data/b.bin", random_bytes(40 << 10, 1)); // incompressible: the stream has
    write(project / "zz.bin", random_bytes(48 << 10, 2));     // ~22 chunks of 4 KiB; zz.bin last
    tree_hash = plan(project).tree.tree_hash.hex();
    options.project = project;
    options.chunk_size = 4096;
    options.zstd_level = 1;
    options.grace_seconds = 0.1;
  }

  std::vector<FakeMachine> cluster(int count, const std::string& disks = "disk") {
    std::vector<FakeMachine> machines(static_cast<size_t>(count));
    for (int m = 0; m < count; ++m) {
      machines[static_cast<size_t>(m)].host = "node" + std::to_string(m);
      machines[static_cast<size_t>(m)].dest = dir / (disks + std::to_string(m));
    }
    return machines;
  }

  bool installed(const FakeMachine& m) const { return fs::is_directory(m.dest / "envs" / tree_hash); }

  static size_t incoming(const FakeMachine& m) {
    size_t n = 0;
    boost::system::error_code ec;
    for (fs::directory_iterator it(m.dest / "envs", ec), end; !ec && it != end; it.increment(ec))
      n += it->path().filename().string().rfind(".incoming-", 0) == 0;
    return n;
  }

  // Every rank ended, by agreement (no abort), with the same exit code.
  static void expect_agreed(const FakeJobResult& r, int exit_code) {
    ASSERT_FALSE(r.hung) << "the watchdog ended the job: " << r.abort_reason;
    for (const RankEnd& end : r.ranks) {
      EXPECT_FALSE(end.aborted) << "rank of machine " << end.machine << " aborted: " << end.err;
      EXPECT_EQ(end.exit_code, exit_code) << "machine " << end.machine << ": " << end.err;
    }
  }

  static std::vector<std::string> error_lines(const RankEnd& end) {
    std::vector<std::string> lines;
    std::istringstream in(end.err);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("distenv: error: ", 0) == 0)
        lines.push_back(line.substr(16));
    return lines;
  }

  TempDir dir;
  fs::path project;
  std::string tree_hash;
  cli::Options options;
};

TEST_F(FakeCluster, FiveMachinesInstallOnceAndRunTheirWorkers) {
  auto machines = cluster(5);
  options.workers = 2;
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  for (const FakeMachine& m : machines) {
    EXPECT_TRUE(installed(m)) << m.host;
    EXPECT_EQ(incoming(m), 0u) << m.host;
  }
  EXPECT_NE(r.root().out.find("distenv: 5 machines (5 ranks)"), std::string::npos) << r.root().out;
  EXPECT_NE(r.root().out.find("to 4 machines by chain in"), std::string::npos) << r.root().out;
  EXPECT_NE(r.root().out.find(", installed here too\n"), std::string::npos) << r.root().out;
  EXPECT_NE(r.root().out.find("node0        1 rank   source   installed in"), std::string::npos)
      << "the source packs what it installs: it receives nothing\n"
      << r.root().out;
  EXPECT_NE(r.root().out.find("workers 10/10 ok"), std::string::npos) << r.root().out;
  // The progress (a log's lines): the bytes, then each machine as it installs.
  EXPECT_NE(r.root().progress.find("distenv: sending to 4 machines 100%"), std::string::npos)
      << r.root().progress;
  EXPECT_NE(r.root().progress.find("installed on 4 of 4\n"), std::string::npos) << r.root().progress;
  EXPECT_EQ(r.root().progress.find("installed on 5"), std::string::npos) << r.root().progress;
  for (const RankEnd& end : r.ranks) {
    EXPECT_EQ(end.phases, k_phases) << "machine " << end.machine;
    ASSERT_EQ(end.each_machine.size(), 1u);
    EXPECT_EQ(end.each_machine[0].argv, (std::vector<std::string>{"sh", "-c", "echo prepared"}));
    EXPECT_EQ(end.workers.size(), 2u);
    if (end.machine > 0) {
      EXPECT_EQ(end.out, "") << "only rank 0 prints";
      EXPECT_EQ(end.progress, "") << "only rank 0 shows progress";
    }
  }
  // A second run sends nothing.
  const FakeJobResult again = run_fake_job(machines, options);
  expect_agreed(again, 0);
  EXPECT_NE(again.root().out.find("nothing sent"), std::string::npos) << again.root().out;
}

// Every way the stream can travel gets every byte to every machine, and the
// report names it.
TEST_F(FakeCluster, EveryBroadcastMethodDeliversTheEnvironmentEverywhere) {
  for (const auto& [method, name] : std::vector<std::pair<transport::Method, std::string>>{
           {transport::Method::chain(), "chain"},
           {transport::Method::binary_tree(), "binary tree"},
           {transport::Method{transport::Method::tree, 3}, "3-ary tree"},
           {transport::Method::twotree(), "two-tree"},
           {transport::Method::mpi_bcast(), "mpi"}}) {
    SCOPED_TRACE(name);
    auto machines = cluster(7, "disk-" + std::to_string(static_cast<int>(method.kind)) + "-" +
                                   std::to_string(method.fanout) + "-");
    options.broadcast = method;
    const FakeJobResult r = run_fake_job(machines, options);
    expect_agreed(r, 0);
    for (const FakeMachine& m : machines)
      EXPECT_TRUE(installed(m)) << m.host;
    EXPECT_NE(r.root().out.find("to 6 machines by " + name), std::string::npos) << r.root().out;
  }
}

// The per-file delta: after a change, only what a machine lacks travels,
// the rest is copied from the environments it has; every installed tree is
// the source's, byte for byte.
TEST_F(FakeCluster, OnlyWhatChangedTravelsAndEachMachineGetsExactlyTheSource) {
  auto machines = cluster(5);
  options.report = dir / "r.json";
  auto run = [&] {
    tree_hash = plan(project).tree.tree_hash.hex();
    expect_agreed(run_fake_job(machines, options), 0);
    for (const FakeMachine& m : machines) {
      const fs::path proj = m.dest / "envs" / tree_hash / "proj";
      for (const char* f : {"a.txt", "data/b.bin", "zz.bin", "distenv.toml"})
        EXPECT_EQ(slurp(proj / f), slurp(project / f)) << m.host << ": " << f;
      EXPECT_EQ(incoming(m), 0u) << m.host;
    }
    return nlohmann::json::parse(slurp(dir / "r.json"));
  };
  // Files that did not travel: kept from the previous version in place,
  // or linked from the objects.
  auto local_files = [](const nlohmann::json& report) {
    std::vector<int> out;
    for (const auto& m : report["per_machine"])
      out.push_back(m["local_files"].get<int>() + m["kept_files"].get<int>());
    return out;
  };
  auto kept_files = [](const nlohmann::json& report) {
    std::vector<int> out;
    for (const auto& m : report["per_machine"])
      out.push_back(m["kept_files"]);
    return out;
  };
  const uint64_t cold = run()["archive_bytes"];

  // One small file changed, one added: they travel, the rest is copied here.
  write(project / "a.txt", "hello again\n");
  write(project / "new.txt", "new\n");
  auto r = run();
  EXPECT_LT(r["archive_bytes"].get<uint64_t>(), cold / 10) << "more than the change travelled";
  EXPECT_EQ(local_files(r), std::vector<int>(5, 4)) << "b.bin, zz.bin, distenv.toml and the metadata";
  EXPECT_EQ(kept_files(r), std::vector<int>(5, 4)) << "the previous version became this one in place";
  EXPECT_EQ(slurp(machines[2].dest / "envs" / tree_hash / "proj/new.txt"), "new\n");

  // Someone edited zz.bin inside node3's installed environments: node3 does
  // not count on those copies, so zz.bin travels and node3 gets the real one.
  const std::string before = tree_hash;
  for (fs::directory_iterator it(machines[3].dest / "envs"), end; it != end; ++it)
    if (fs::is_directory(it->path()) && it->path().filename().string()[0] != '.')
      write(it->path() / "proj/zz.bin", "edited in place\n");
  write(project / "a.txt", "and again\n");
  r = run();
  // zz.bin travels to every machine, but those that have it keep theirs.
  EXPECT_EQ(local_files(r), (std::vector<int>{5, 5, 5, 4, 5}))
      << "b.bin, new.txt, distenv.toml, the metadata (and zz.bin where it was not edited)";
  EXPECT_EQ(kept_files(r), (std::vector<int>{5, 5, 5, 0, 5}))
      << "node3's previous version changed: left alone";
  EXPECT_GT(r["archive_bytes"].get<uint64_t>(), uint64_t(48) << 10) << "zz.bin travelled";
  EXPECT_EQ(slurp(machines[3].dest / "envs" / before / "proj/zz.bin"), "edited in place\n")
      << "the old environment is left as it is";

  // A machine with nothing: every content travels; it takes all from the
  // stream, the others keep what they have; all end with the same tree.
  fs::remove_all(machines[4].dest);
  write(project / "a.txt", "once more\n");
  r = run();
  EXPECT_EQ(local_files(r), (std::vector<int>{5, 5, 5, 5, 0}));
  EXPECT_GT(r["archive_bytes"].get<uint64_t>(), cold * 9 / 10);
}

// Each phase failing on one machine (the reading machine, and another):
// every rank ends with that machine's exit code and message, nobody aborts
// or hangs, and no store holds a partial install.
class FakeClusterPhase : public FakeCluster,
                         public ::testing::WithParamInterface<std::tuple<std::string, int>> {};

TEST_P(FakeClusterPhase, FailureOnOneMachineEndsTheJobEverywhere) {
  const auto& [phase, failing] = GetParam();
  auto machines = cluster(5);
  machines[static_cast<size_t>(failing)].fault.phase = phase;
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 3);
  const std::string host = "node" + std::to_string(failing);
  EXPECT_EQ(error_lines(r.root()), std::vector<std::string>{host + ": injected fault in " + phase})
      << r.root().err;
  const size_t reached =
      static_cast<size_t>(std::find(k_phases.begin(), k_phases.end(), phase) - k_phases.begin());
  for (const RankEnd& end : r.ranks) {
    EXPECT_EQ(end.phases, std::vector<std::string>(k_phases.begin(), k_phases.begin() + reached + 1))
        << "machine " << end.machine << " went on after the failed phase";
    EXPECT_EQ(end.workers.empty(), reached < 5 || (reached == 5 && end.machine == failing))
        << "workers start only after each-machine succeeded, and not where the workers phase failed";
  }
  for (const FakeMachine& m : machines) {
    EXPECT_EQ(incoming(m), 0u) << m.host;
    if (reached < 2)
      EXPECT_FALSE(installed(m)) << m.host << ": installed although the job failed before the transfer";
  }
}

INSTANTIATE_TEST_SUITE_P(Phases, FakeClusterPhase,
                         ::testing::Combine(::testing::ValuesIn(k_phases), ::testing::Values(0, 3)),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) + "_on_machine_" +
                                              std::to_string(std::get<1>(info.param));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST_F(FakeCluster, BadInputOnRankZeroExitsTwoEverywhereAndWritesNothing) {
  write(project / "distenv.toml", "rots = [\"x\"]\n");
  auto machines = cluster(5);
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 2);
  const auto lines = error_lines(r.root());
  ASSERT_EQ(lines.size(), 1u) << r.root().err;
  EXPECT_EQ(lines[0].rfind("node0: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("distenv.toml:1:8: unknown key 'rots'"), std::string::npos) << lines[0];
  for (const FakeMachine& m : machines)
    EXPECT_FALSE(fs::exists(m.dest)) << m.host;
}

TEST_F(FakeCluster, ReportPathThatCannotBeWrittenIsBadInputBeforeAnythingRuns) {
  options.report = dir / "no/such/dir/r.json";
  auto machines = cluster(3);
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 2);
  EXPECT_EQ(error_lines(r.root()),
            std::vector<std::string>{"node0: --report " + options.report.string() + ": directory " +
                                     (dir / "no/such/dir").string() + ": no such file or directory"});
  for (const RankEnd& end : r.ranks)
    EXPECT_TRUE(end.workers.empty());
}

TEST_F(FakeCluster, StoreThatIsNotADirectoryFailsTheCheck) {
  auto machines = cluster(5);
  write(machines[2].dest, "a file where the store should be\n");
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 2);
  EXPECT_EQ(error_lines(r.root()),
            std::vector<std::string>{"node2: " + machines[2].dest.string() + ": not a directory"});
  for (const FakeMachine& m : machines)
    EXPECT_FALSE(installed(m)) << m.host << ": nothing is sent when a check failed";
}

TEST_F(FakeCluster, RankZeroFailingMidStreamAbortsEveryReceiver) {
  auto machines = cluster(5);
  // Once the plan is made, the last file to be packed grows: the packer
  // finds it changed halfway through the stream and stops.
  machines[0].fault.phase = "transfer";
  machines[0].fault.action = [this] { write(project / "zz.bin", random_bytes(60 << 10, 3)); };
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 1);
  const auto lines = error_lines(r.root());
  ASSERT_EQ(lines.size(), 1u) << r.root().err;
  EXPECT_EQ(lines[0].rfind("node0: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("zz.bin"), std::string::npos) << lines[0];
  for (const FakeMachine& m : machines) {
    EXPECT_FALSE(installed(m)) << m.host;
    EXPECT_EQ(incoming(m), 0u) << m.host;
  }
  EXPECT_EQ(r.root().progress.find("100%"), std::string::npos) << "nothing claims the end\n"
                                                               << r.root().progress;
  EXPECT_EQ(r.root().progress.find("installed on 1"), std::string::npos) << r.root().progress;
}

TEST_F(FakeCluster, ReceiverWhoseDiskFillsMidInstallIsNamedAndTheOthersComplete) {
  auto machines = cluster(5);
  machines[2].fault.installed_bytes = 12 << 10;
  machines[2].fault.message = "writing 'zz.bin': no space left on device";
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 3);
  EXPECT_EQ(error_lines(r.root()),
            std::vector<std::string>{"node2: writing 'zz.bin': no space left on device"});
  EXPECT_NE(r.root().progress.find("installed on 3 of 4\n"), std::string::npos) << r.root().progress;
  EXPECT_EQ(r.root().progress.find("installed on 4 of 4"), std::string::npos) << r.root().progress;
  for (const FakeMachine& m : machines) {
    EXPECT_EQ(installed(m), m.host != "node2") << m.host;
    EXPECT_EQ(incoming(m), 0u) << m.host;
  }
}

TEST_F(FakeCluster, StreamDamagedOnTheWayToOneMachineIsRefusedThere) {
  auto machines = cluster(5);
  options.broadcast = transport::Method::chain(); // 0 -> 1 -> 2 -> 3 -> 4
  // One byte of the 5th chunk flips on its way to node2: the chunk lies in
  // the random data, which zstd stores as it is, so the archive stays
  // readable and only the content differs.
  machines[2].damage = [](int chunk, std::string& bytes) {
    if (chunk == 4)
      bytes[bytes.size() / 2] ^= 0x20;
  };
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 1);
  // The chain (0 -> 1 -> 2 -> 3 -> 4) forwards what node2 got: every machine
  // downstream of the damage refuses it, each named; those before keep theirs.
  const auto lines = error_lines(r.root());
  ASSERT_EQ(lines.size(), 3u) << r.root().err;
  for (size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(lines[i].rfind("node" + std::to_string(i + 2) +
                                 ": received environment does not match its hash: entry 'proj/data/b.bin' "
                                 "is not the content listed for it",
                             0),
              0u)
        << lines[i];
  for (const FakeMachine& m : machines) {
    EXPECT_EQ(installed(m), m.host == "node0" || m.host == "node1") << m.host;
    EXPECT_EQ(incoming(m), 0u) << m.host;
  }
}

TEST_F(FakeCluster, MachinesSharingAStoreInstallOnce) {
  auto machines = cluster(5);
  machines[3].dest = machines[1].dest; // one file system seen by two machines
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  EXPECT_NE(r.root().out.find("to 3 machines"), std::string::npos) << r.root().out;
  EXPECT_NE(r.root().out.find("node3        1 rank   shared"), std::string::npos) << r.root().out;
  EXPECT_NE(r.root().out.find("node1        1 rank   received"), std::string::npos) << r.root().out;
}

TEST_F(FakeCluster, StatusAndGcRunOnEveryMachineThroughTheContext) {
  auto machines = cluster(3);
  machines[1].ranks = 2;
  ASSERT_EQ(run_fake_job(machines, options).root().exit_code, 0); // one environment on every machine
  cli::Options o = options;
  o.mode = cli::Mode::status;
  const FakeJobResult status = run_fake_job(machines, o, 20, run_status);
  ASSERT_EQ(status.root().exit_code, 0) << status.root().err;
  for (const char* host : {"node0", "node1", "node2"}) // one row per machine, whatever its ranks
    EXPECT_NE(status.root().out.find(std::string("\n") + host + " "), std::string::npos) << status.root().out;
  EXPECT_NE(status.root().out.find("\n  " + tree_hash.substr(0, 8) + " "), std::string::npos)
      << "an environment on a line of its own\n"
      << status.root().out;
  std::istringstream lines(status.root().out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_LE(line.size(), 100u) << "a row fits 100 columns: " << line;
  o.mode = cli::Mode::gc;
  o.gc_keep = 0;
  const FakeJobResult gc = run_fake_job(machines, o, 20, run_gc);
  ASSERT_EQ(gc.root().exit_code, 0) << gc.root().err;
  for (const char* host : {"node0", "node1", "node2"})
    EXPECT_NE(gc.root().out.find(std::string("distenv: gc ") + host + ": removed 1 "), std::string::npos)
        << gc.root().out;
  for (const FakeMachine& m : machines)
    EXPECT_FALSE(fs::exists(m.dest / "envs" / tree_hash)) << m.host;
}

// gc keeps what a job used last, whatever was installed after it: X, then
// Y, then X again (reused) -> gc --keep 1 keeps X and removes Y; status
// lists X first. Both ways round (jobs a few ms apart: a clock in seconds
// would tie them and let the names decide).
TEST_F(FakeCluster, GcKeepsTheMostRecentlyUsedNotTheLastInstalled) {
  const fs::path other = dir / "src/other";
  write(other / "distenv.toml", "runtime = \"sh\"\ncommand = [\"true\"]\n");
  write(other / "b.txt", "another project\n");
  cli::Options b = options;
  b.project = other;
  const std::vector<std::pair<cli::Options, std::string>> projects = {{options, tree_hash},
                                                                      {b, plan(other).tree.tree_hash.hex()}};
  for (int last = 0; last < 2; ++last) {
    const auto& [used_last, kept] = projects[static_cast<size_t>(last)];
    const auto& [between, removed] = projects[static_cast<size_t>(1 - last)];
    auto machines = cluster(2, "round" + std::to_string(last) + "-");
    ASSERT_EQ(run_fake_job(machines, used_last).root().exit_code, 0);
    ASSERT_EQ(run_fake_job(machines, between).root().exit_code, 0);
    ASSERT_EQ(run_fake_job(machines, used_last).root().exit_code, 0); // reused, used last
    cli::Options o = options;
    o.mode = cli::Mode::status;
    const std::string rows = run_fake_job(machines, o, 20, run_status).root().out;
    ASSERT_NE(rows.find(kept.substr(0, 8)), std::string::npos) << rows;
    ASSERT_NE(rows.find(removed.substr(0, 8)), std::string::npos) << rows;
    EXPECT_LT(rows.find(kept.substr(0, 8)), rows.find(removed.substr(0, 8))) << "used last, listed first\n"
                                                                             << rows;
    o.mode = cli::Mode::gc;
    o.gc_keep = 1;
    ASSERT_EQ(run_fake_job(machines, o, 20, run_gc).root().exit_code, 0);
    for (const FakeMachine& m : machines) {
      EXPECT_TRUE(fs::exists(m.dest / "envs" / kept)) << m.host << ": the one used last is kept";
      EXPECT_FALSE(fs::exists(m.dest / "envs" / removed)) << m.host;
    }
  }
}

// What a killed install leaves (.incoming-* in envs/, depot/, a compile
// class's directory) is shown by status and removed by gc.
TEST_F(FakeCluster, InterruptedInstallsAreShownAndGcRemovesThem) {
  auto machines = cluster(2);
  ASSERT_EQ(run_fake_job(machines, options).root().exit_code, 0);
  const fs::path& dest = machines[1].dest;
  write(dest / "envs/.incoming-0123456789abcdef0123456789abcdef-4242/a.bin", std::string(3000, 'x'));
  write(dest / "depot/.incoming-4243/packages/P/x.jl", std::string(1000, 'y'));
  write(dest / "julia/cls1/.incoming-4244/compiled/v1.5/P.ji", std::string(500, 'z'));
  cli::Options o = options;
  o.mode = cli::Mode::status;
  const std::string rows = run_fake_job(machines, o, 20, run_status).root().out;
  EXPECT_NE(rows.find("3 interrupted installs (4.4 KiB: gc removes)"), std::string::npos) << rows;
  o.mode = cli::Mode::gc;
  o.gc_keep = 5;
  o.gc_dry_run = true;
  std::string out = run_fake_job(machines, o, 20, run_gc).root().out;
  EXPECT_NE(
      out.find("node1: would remove 0 (4.4 KiB), kept 1, in use 0; would remove 3 interrupted installs"),
      std::string::npos)
      << out;
  EXPECT_TRUE(fs::exists(dest / "depot/.incoming-4243")) << "a dry run removes nothing";
  o.gc_dry_run = false;
  out = run_fake_job(machines, o, 20, run_gc).root().out;
  EXPECT_NE(
      out.find("node1: removed 0 (4.4 KiB), kept 1, in use 0; removed 3 interrupted installs (4.4 KiB)"),
      std::string::npos)
      << out;
  EXPECT_EQ(out.find("node0: removed 0 (0 B), kept 1, in use 0;"), std::string::npos) << "nothing on node0";
  EXPECT_EQ(incoming(machines[1]), 0u);
  EXPECT_FALSE(fs::exists(dest / "depot/.incoming-4243"));
  EXPECT_FALSE(fs::exists(dest / "julia/cls1/.incoming-4244"));
  EXPECT_TRUE(installed(machines[1])) << "the environment itself is kept";
}

TEST_F(FakeCluster, SeveralRanksOnOneMachineActAsOne) {
  auto machines = cluster(3);
  machines[1].ranks = 3;
  options.workers = 2;
  const FakeJobResult r = run_fake_job(machines, options);
  ASSERT_EQ(r.ranks.size(), 5u);
  expect_agreed(r, 0);
  EXPECT_NE(r.root().out.find("distenv: 3 machines (5 ranks)"), std::string::npos) << r.root().out;
  EXPECT_NE(r.root().out.find("node1        3 ranks"), std::string::npos) << r.root().out;
  size_t workers = 0, steps = 0;
  for (const RankEnd& end : r.ranks) {
    workers += end.workers.size();
    steps += end.each_machine.size();
  }
  EXPECT_EQ(workers, 6u) << "workers on the machines' leaders only";
  EXPECT_EQ(steps, 3u) << "each-machine once per machine";
}

TEST_F(FakeCluster, WorkersAreNumberedAcrossMachinesWithTheirOwnCounts) {
  auto machines = cluster(5);
  const std::vector<int> counts = {1, 3, 2, 1, 4};
  for (size_t m = 0; m < machines.size(); ++m)
    machines[m].environment.push_back("SLURM_CPUS_ON_NODE=" + std::to_string(counts[m]));
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  int next = 0;
  for (const RankEnd& end : r.ranks) {
    ASSERT_EQ(end.workers.size(), static_cast<size_t>(counts[static_cast<size_t>(end.machine)]));
    for (size_t i = 0; i < end.workers.size(); ++i) {
      const auto& env = end.workers[i].env;
      auto value = [&](const std::string& key) { return workers::env_value(env, key); };
      EXPECT_EQ(value("DISTENV_WORKER"), std::to_string(next));
      EXPECT_EQ(value("DISTENV_WORKERS"), "11");
      EXPECT_EQ(value("DISTENV_LOCAL_WORKER"), std::to_string(i));
      EXPECT_EQ(value("DISTENV_LOCAL_WORKERS"), std::to_string(end.workers.size()));
      EXPECT_EQ(value("DISTENV_MACHINE"), std::to_string(end.machine));
      EXPECT_EQ(value("DISTENV_MACHINES"), "5");
      EXPECT_EQ(end.workers[i].label, "node" + std::to_string(end.machine) + ":" + std::to_string(next));
      const fs::path place = machines[static_cast<size_t>(end.machine)].dest / "projects/proj";
      EXPECT_EQ(end.workers[i].cwd, place / "proj");
      EXPECT_EQ(fs::read_symlink(place), fs::path("../envs") / tree_hash) << "the project's stable place";
      ++next;
    }
  }
  EXPECT_EQ(next, 11);
}

TEST_F(FakeCluster, RuntimeMissingOnOneMachineNamesItWithTheHint) {
  auto machines = cluster(5);
  machines[4].environment = {"PATH=/nonexistent"};
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 1);
  EXPECT_EQ(error_lines(r.root()),
            std::vector<std::string>{"node4: runtime 'sh' not found on PATH; apt-get install dash"});
  for (const RankEnd& end : r.ranks)
    EXPECT_TRUE(end.each_machine.empty() && end.workers.empty()) << "nothing is spawned anywhere";
}

TEST_F(FakeCluster, FailingEachMachineCommandIsNamed) {
  auto machines = cluster(5);
  machines[1].processes.each_machine_status = 7;
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 1);
  EXPECT_EQ(error_lines(r.root()),
            std::vector<std::string>{"node1: each-machine command 'echo prepared' exited with 7"});
}

TEST_F(FakeCluster, FailingWorkerSetsTheExitCodeButTheOthersRun) {
  auto machines = cluster(5);
  options.workers = 1;
  machines[3].processes.worker_status = 5;
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 5);
  EXPECT_EQ(error_lines(r.root()), std::vector<std::string>{"node3: worker 3 exited with 5"});
  EXPECT_NE(r.root().out.find("workers 4/5 ok"), std::string::npos) << r.root().out;
}

TEST_F(FakeCluster, WorkersThatCannotStartAreReported) {
  auto machines = cluster(3);
  options.workers = 1;
  machines[2].processes.cannot_start = true;
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 127);
  EXPECT_EQ(error_lines(r.root()),
            std::vector<std::string>{
                "node2: worker 2 could not be started: fork: resource temporarily unavailable"});
}

TEST_F(FakeCluster, FailureDuringALongSweepStopsTheWorkersEverywhere) {
  auto machines = cluster(5);
  options.workers = 1;
  for (FakeMachine& m : machines)
    m.processes.run_until_stopped = true;
  machines[3].processes.run_until_stopped = false;
  machines[3].processes.signal = 15; // SIGTERM reached this machine's rank only
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 143);
  EXPECT_EQ(error_lines(r.root()), std::vector<std::string>{"node3: interrupted by signal 15 (Terminated)"});
  for (const RankEnd& end : r.ranks)
    EXPECT_EQ(end.workers_stopped, end.machine != 3) << "machine " << end.machine;
}

// --control-stdin: rank 0's control lines (a front end's "interrupt this
// worker") reach the machine that runs the worker, and only that worker.
// distenv run's Ctrl-C (SIGUSR2 to every rank; here one flag for all the
// machines, threads of one process) while the environment travels: every
// rank ends its phase, they agree, nothing half-installed stays, and rank 0
// prints no line per machine (distenv run names the signal itself).
TEST_F(FakeCluster, TheJobsStopDuringTheTransferLeavesNothingHalfInstalled) {
  auto machines = cluster(4);
  machines[2].fault.installed_bytes = 8192; // node2 has taken two chunks of the stream
  machines[2].fault.action = [] { note_stop(); };
  const FakeJobResult r = run_fake_job(machines, options);
  reset_stop();
  ASSERT_FALSE(r.hung) << r.abort_reason;
  for (const RankEnd& end : r.ranks) {
    EXPECT_FALSE(end.aborted) << end.err;
    EXPECT_EQ(end.exit_code, 1) << end.err;
  }
  // A machine that had the whole environment before the stop keeps it (a
  // complete install: only its rename made it visible); none keeps a part.
  for (const FakeMachine& m : machines)
    EXPECT_EQ(incoming(m), 0u) << m.host;
  EXPECT_FALSE(installed(machines[2])) << "the machine that was installing when the stop came";
  EXPECT_EQ(error_lines(r.root()), std::vector<std::string>{}) << r.root().err;
}

TEST_F(FakeCluster, ControlLinesSignalSingleWorkersOnTheirMachines) {
  auto machines = cluster(3);
  options.workers = 2;
  options.control_stdin = true;
  for (FakeMachine& m : machines)
    m.processes.run_until_signalled = true;
  int control[2];
  ASSERT_EQ(::pipe(control), 0);
  const std::string lines = "signal 3 INT\nsignal 0 TERM\nsignal 9 INT\nsignal 5 HUP\nsignal 1 KILL\n"
                            "signal 2 USR1\nsignal 4 INT\n";
  ASSERT_EQ(::write(control[1], lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  ::close(control[1]);
  machines[0].control_fd = control[0];
  const FakeJobResult r = run_fake_job(machines, options);
  ::close(control[0]);
  expect_agreed(r, 0); // each ended by the signal asked for it: the front end's doing
  using Requests = std::vector<std::pair<size_t, int>>;
  EXPECT_EQ(r.ranks[0].signalled, (Requests{{0, SIGTERM}, {1, SIGKILL}}));
  EXPECT_EQ(r.ranks[1].signalled, (Requests{{1, SIGINT}, {0, SIGUSR1}}));
  EXPECT_EQ(r.ranks[2].signalled, (Requests{{1, SIGHUP}, {0, SIGINT}}));
  EXPECT_NE(
      r.root().err.find("distenv: warning: control line 'signal 9 INT' ignored: no worker 9 in this job "
                        "(6 workers)"),
      std::string::npos)
      << r.root().err;
  EXPECT_NE(r.root().out.find("workers 6/6 ok"), std::string::npos) << r.root().out;
}

TEST_F(FakeCluster, WithoutControlStdinNothingReadsTheControlDescriptor) {
  auto machines = cluster(2);
  options.workers = 1;
  int control[2];
  ASSERT_EQ(::pipe(control), 0);
  ASSERT_EQ(::write(control[1], "signal 0 INT\n", 13), 13);
  machines[0].control_fd = control[0];
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  EXPECT_TRUE(r.ranks[0].signalled.empty());
  char buf[32];
  EXPECT_EQ(::read(control[0], buf, sizeof buf), 13) << "the line is still there, unread";
  ::close(control[0]);
  ::close(control[1]);
}

TEST_F(FakeCluster, ReportThatCannotBeWrittenAfterTheWorkersFailsEveryRank) {
  auto machines = cluster(5);
  options.report = dir / "reports/r.json";
  fs::create_directories(dir / "reports");
  // While the workers run, the report's directory goes away.
  machines[0].processes.while_workers_run = [this] { fs::remove_all(dir / "reports"); };
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 1);
  const auto lines = error_lines(r.root());
  ASSERT_EQ(lines.size(), 1u) << r.root().err;
  EXPECT_EQ(
      lines[0].rfind("node0: cannot write " + options.report.string() + ": no such file or directory", 0), 0u)
      << lines[0];
  EXPECT_NE(r.root().out.find("workers"), std::string::npos) << "the summary is printed first";
}

// A random fault at a random machine and phase, many times over: the job
// always ends on every rank (the watchdog never fires), every rank agrees on
// the exit code, and rank 0 names the failing machine.
TEST_F(FakeCluster, SoakRandomFaultsNeverHangAndAlwaysNameTheMachine) {
  std::mt19937 rng(20261127);
  const int runs = 1000;
  TempDir disks(TempDir::Where::memory); // 5,000 installs: no disk syncs to wait for
  int hung = 0;
  for (int run = 0; run < runs; ++run) {
    auto machines = cluster(5);
    for (size_t i = 0; i < machines.size(); ++i)
      machines[i].dest = disks / ("run" + std::to_string(run) + "-" + std::to_string(i));
    const int failing = static_cast<int>(rng() % 5);
    FakeMachine& m = machines[static_cast<size_t>(failing)];
    int expected = 3;
    std::string message;
    switch (const unsigned kind = rng() % 10; kind) {
    case 7: // the install fails partway
      m.fault.installed_bytes = 1 + rng() % (80 << 10);
      message = "injected fault";
      break;
    case 8: // a signal while the workers run, the others' sweep is stopped
      for (FakeMachine& other : machines)
        other.processes.run_until_stopped = true;
      m.processes.run_until_stopped = false;
      m.processes.signal = 2;
      expected = 130;
      message = "interrupted by signal 2 (Interrupt)";
      break;
    case 9:
      m.processes.each_machine_status = 9;
      expected = 1;
      message = "each-machine command 'echo prepared' exited with 9";
      break;
    default:
      m.fault.phase = k_phases[kind];
      message = "injected fault in " + k_phases[kind];
    }
    options.workers = 1;
    const FakeJobResult r = run_fake_job(machines, options, 10);
    if (r.hung) {
      ++hung;
      ADD_FAILURE() << "run " << run << ": hung with a fault on node" << failing << ": " << message;
      continue;
    }
    for (const RankEnd& end : r.ranks) {
      ASSERT_FALSE(end.aborted) << "run " << run << ": " << end.err;
      ASSERT_EQ(end.exit_code, expected) << "run " << run << " machine " << end.machine << ": " << message;
    }
    ASSERT_EQ(error_lines(r.root()),
              std::vector<std::string>{"node" + std::to_string(failing) + ": " + message})
        << "run " << run;
    for (const FakeMachine& each : machines) {
      ASSERT_EQ(incoming(each), 0u) << "run " << run;
      fs::remove_all(each.dest);
    }
  }
  EXPECT_EQ(hung, 0);
}

} // namespace
} // namespace distenv::test
