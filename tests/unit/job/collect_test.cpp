// Outputs: every machine's $DISTENV_OUTPUT, and what --collect brings back,
// on machines that are threads of this process (the fake cluster), with and
// without a collecting rank, from failing jobs too.
#include "support/fake_cluster.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

#include <distenv/install/store.hpp>
#include <distenv/job/collect.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/glob.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/workers/activation.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

namespace distenv::test {
namespace {

class Collect : public ::testing::Test {
protected:
  void SetUp() override {
    project = dir / "src/proj";
    write(project / "distenv.toml", "runtime = \"sh\"\n"
                                    "command = [\"sh\", \"-c\", \"echo work\"]\n");
    write(project / "a.txt", "hello\n");
    options.project = project;
    options.chunk_size = 4096;
    options.grace_seconds = 0.1;
    options.workers = 2;
    options.job_id = "job1";
    options.collect_into = dir / "results";
  }

  // Machines whose workers each write w<N>.csv and notes.txt into their
  // output directory (and remember where it was).
  std::vector<FakeMachine> cluster(int count) {
    std::vector<FakeMachine> machines(static_cast<size_t>(count));
    for (int m = 0; m < count; ++m) {
      FakeMachine& fm = machines[static_cast<size_t>(m)];
      fm.host = "node" + std::to_string(m);
      fm.dest = dir / ("disk" + std::to_string(m));
      fm.processes.each_worker = [this](const workers::Spec& spec) {
        const fs::path out = workers::env_value(spec.env, "DISTENV_OUTPUT");
        ASSERT_FALSE(out.empty());
        {
          std::lock_guard lock(mutex);
          outputs.insert(out.string());
        }
        const std::string n = workers::env_value(spec.env, "DISTENV_WORKER");
        write(out / ("sub/w" + n + ".csv"), "result of " + n + "\n");
        write(out / "notes.txt", "not collected\n");
      };
    }
    return machines;
  }

  static FakeMachine collector() {
    FakeMachine c;
    c.host = "login";
    c.collector = true;
    return c;
  }

  static void expect_agreed(const FakeJobResult& r, int exit_code) {
    ASSERT_FALSE(r.hung) << "the watchdog ended the job: " << r.abort_reason;
    for (const RankEnd& end : r.ranks) {
      EXPECT_FALSE(end.aborted) << "machine " << end.machine << " aborted: " << end.err;
      if (end.machine < 3)
        EXPECT_EQ(end.exit_code, exit_code) << "machine " << end.machine << ": " << end.err;
    }
  }

  std::set<std::string> collected() const {
    std::set<std::string> files;
    boost::system::error_code ec;
    for (fs::recursive_directory_iterator it(dir / "results", ec), end; !ec && it != end; it.increment(ec))
      if (fs::is_regular_file(it->path()))
        files.insert(generic(it->path().lexically_relative(dir / "results")));
    return files;
  }

  TempDir dir;
  fs::path project;
  cli::Options options;
  std::mutex mutex;
  std::set<std::string> outputs;
};

const std::set<std::string> k_three_machines = {"job1/node0/sub/w0.csv", "job1/node0/sub/w1.csv",
                                                "job1/node1/sub/w2.csv", "job1/node1/sub/w3.csv",
                                                "job1/node2/sub/w4.csv", "job1/node2/sub/w5.csv"};

TEST_F(Collect, EveryMachineHasAnOutputDirectoryOutsideItsEnvironments) {
  const auto machines = cluster(3);
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  EXPECT_EQ(outputs, (std::set<std::string>{(dir / "disk0/outputs/job1/node0").string(),
                                            (dir / "disk1/outputs/job1/node1").string(),
                                            (dir / "disk2/outputs/job1/node2").string()}));
  EXPECT_EQ(workers::env_value(r.root().workers.at(0).env, "DISTENV_JOB"), "job1");
  EXPECT_TRUE(collected().empty()) << "nothing is collected unless asked";
  EXPECT_EQ(r.root().out.find("collected"), std::string::npos) << r.root().out;
}

TEST_F(Collect, RankZeroCollectsWhatMatchesFromEveryMachine) {
  options.collect = {"*.csv"};
  options.report = dir / "r.json";
  const FakeJobResult r = run_fake_job(cluster(3), options);
  expect_agreed(r, 0);
  const auto report = nlohmann::json::parse(read_file(dir / "r.json"));
  EXPECT_TRUE(report["phase_seconds"].contains("collect")) << report["phase_seconds"].dump();
  EXPECT_EQ(report["collected"]["machines"].size(), 3u);
  EXPECT_EQ(report["collected"]["job_id"], "job1");
  EXPECT_EQ(collected(), k_three_machines);
  EXPECT_EQ(read_file(dir / "results/job1/node2/sub/w5.csv"), "result of 5\n");
  EXPECT_NE(r.root().out.find("distenv: collected node1:       2 files, 24 B ("), std::string::npos)
      << r.root().out;
  EXPECT_NE(r.root().out.find("distenv: results: 6 files, 72 B ("), std::string::npos) << r.root().out;
  EXPECT_NE(r.root().out.find("from 3 machines in node0:" + (dir / "results/job1").string()),
            std::string::npos)
      << r.root().out;
  for (const RankEnd& end : r.ranks)
    EXPECT_NE(std::find(end.phases.begin(), end.phases.end(), "collect"), end.phases.end());
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir / "disk1/outputs/job1"), end; it != end; ++it)
    names.push_back(it->path().filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"node1"})) << "the packed archive is removed once sent";
}

TEST_F(Collect, ACollectingRankBesideTheMachinesGetsThemInstead) {
  options.collect = {"sub/*.csv", "nothing-matches"};
  auto machines = cluster(3);
  machines.push_back(collector());
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  EXPECT_EQ(r.ranks.back().exit_code, 0) << r.ranks.back().err;
  EXPECT_EQ(collected(), k_three_machines);
  EXPECT_NE(r.root().out.find("distenv: 3 machines (3 ranks)"), std::string::npos)
      << "the collecting rank is no machine of the job\n"
      << r.root().out;
  EXPECT_NE(r.root().out.find("from 3 machines in " + machine_name() + ":"), std::string::npos)
      << r.root().out;
  EXPECT_EQ(r.ranks.back().out, "");
}

// More machines than stream at once (four): the collecting rank asks the
// next as each ends; one whose place is taken is named, the others land.
TEST_F(Collect, ManyMachinesStreamAFewAtATimeAndOneFailureIsThatMachines) {
  options.collect = {"*.csv"};
  auto machines = cluster(7);
  machines.push_back(collector());
  write(dir / "results/job1/node3/taken", "a directory of that name, not empty\n");
  const FakeJobResult r = run_fake_job(machines, options);
  ASSERT_FALSE(r.hung) << r.abort_reason;
  EXPECT_EQ(r.root().exit_code, 1) << r.root().err;
  EXPECT_EQ(r.ranks.back().exit_code, 0);
  for (int m = 0; m < 7; ++m)
    if (m != 3)
      EXPECT_TRUE(collected().count(fmt::format("job1/node{}/sub/w{}.csv", m, 2 * m))) << m;
  EXPECT_NE(r.root().err.find("distenv: error: node3: collect: "), std::string::npos) << r.root().err;
  EXPECT_EQ(r.root().err.find("node2: collect"), std::string::npos) << r.root().err;
}

TEST_F(Collect, AFailingWorkersOutputsComeBackToo) {
  options.collect = {"*.csv"};
  auto machines = cluster(3);
  machines[2].processes.worker_status = 3;
  machines.push_back(collector());
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 3);
  EXPECT_EQ(collected(), k_three_machines);

  // A machine whose rank is stopped (SIGTERM) while its workers run ends
  // the phase, and the job, on every machine: what was written comes back.
  machines[2].processes.worker_status = 0;
  machines[2].processes.signal = 15;
  options.job_id = "job2";
  const FakeJobResult stopped = run_fake_job(machines, options);
  ASSERT_FALSE(stopped.hung);
  EXPECT_NE(stopped.root().exit_code, 0);
  EXPECT_EQ(stopped.ranks.back().exit_code, 0) << stopped.ranks.back().err;
  EXPECT_TRUE(collected().count("job2/node2/sub/w5.csv")) << stopped.root().err;
  EXPECT_TRUE(collected().count("job2/node0/sub/w0.csv")) << stopped.root().err;
}

TEST_F(Collect, AJobThatFailsBeforeItsWorkersStillReleasesTheCollectingRank) {
  options.collect = {"*.csv"};
  auto machines = cluster(3);
  machines[1].fault.phase = "check";
  machines.push_back(collector());
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 3);
  EXPECT_EQ(r.ranks.back().exit_code, 0);
  EXPECT_TRUE(collected().empty());
  EXPECT_NE(r.root().out.find("distenv: results: 0 files"), std::string::npos) << r.root().out;
}

// distenv run was interrupted (its stop reaches every rank): nothing is
// collected, the collecting rank is released, nobody waits.
TEST_F(Collect, AStoppedJobCollectsNothingAndReleasesTheCollectingRank) {
  options.collect = {"*.csv"};
  auto machines = cluster(3);
  machines[1].processes.while_workers_run = [] { note_stop(); };
  machines.push_back(collector());
  const FakeJobResult r = run_fake_job(machines, options);
  reset_stop();
  ASSERT_FALSE(r.hung) << r.abort_reason;
  for (const RankEnd& end : r.ranks)
    EXPECT_FALSE(end.aborted) << end.err;
  EXPECT_EQ(r.ranks.back().exit_code, 0);
  EXPECT_NE(r.root().exit_code, 0);
  EXPECT_TRUE(collected().empty());
}

TEST_F(Collect, WithoutPatternsTheCollectingRankEndsWithTheJob) {
  auto machines = cluster(2);
  machines.push_back(collector());
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  EXPECT_EQ(r.ranks.back().exit_code, 0);
  EXPECT_TRUE(collected().empty());
}

TEST_F(Collect, SymlinksAreNeverFollowedAndAResultsDirThatCannotBeMadeFailsTheJob) {
  options.collect = {"*"};
  auto machines = cluster(2);
  machines[0].processes.each_worker = [this](const workers::Spec& spec) {
    const fs::path out = workers::env_value(spec.env, "DISTENV_OUTPUT");
    fs::create_directories(out);
    boost::system::error_code ec;
    fs::create_symlink("/etc/passwd", out / "passwd", ec);
    write(out / "ok.txt", "ok\n");
  };
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  EXPECT_TRUE(collected().count("job1/node0/ok.txt"));
  EXPECT_FALSE(collected().count("job1/node0/passwd"));
  EXPECT_NE(r.root().out.find("1 not regular files left out"), std::string::npos) << r.root().out;

  write(dir / "blocked", "a file where the results would go\n");
  options.collect_into = dir / "blocked";
  options.job_id = "job2";
  const FakeJobResult blocked = run_fake_job(machines, options);
  expect_agreed(blocked, 1);
  EXPECT_NE(blocked.root().err.find("distenv: error: node1: collect: "), std::string::npos)
      << blocked.root().err;
}

// Outputs stay on the machines until gc, which keeps the newest jobs' (as
// many as environments) and never a running job's; status shows them.
TEST_F(Collect, StatusShowsOutputsAndGcKeepsTheNewestJobs) {
  auto machines = cluster(2);
  ASSERT_EQ(run_fake_job(machines, options).root().exit_code, 0);
  options.job_id = "job2";
  ASSERT_EQ(run_fake_job(machines, options).root().exit_code, 0);
  cli::Options o = options;
  o.mode = cli::Mode::status;
  const FakeJobResult status = run_fake_job(machines, o, 20, run_status);
  EXPECT_NE(status.root().out.find("  outputs of 2 jobs ("), std::string::npos) << status.root().out;
  o.mode = cli::Mode::gc;
  o.gc_keep = 1;
  const FakeJobResult gc = run_fake_job(machines, o, 20, run_gc);
  EXPECT_NE(gc.root().out.find("removed the outputs of 1 job ("), std::string::npos) << gc.root().out;
  for (const FakeMachine& m : machines) {
    EXPECT_FALSE(fs::exists(m.dest / "outputs/job1")) << m.host;
    EXPECT_TRUE(fs::exists(m.dest / "outputs/job2/" / m.host)) << m.host;
  }
  // A running job's outputs stay, whatever --keep says.
  options.job_id = "job3";
  o.gc_keep = 0;
  std::string gc_said;
  machines[0].processes.while_workers_run = [&] {
    gc_said = run_fake_job({machines[0]}, o, 20, run_gc).root().out;
  };
  ASSERT_EQ(run_fake_job(machines, options).root().exit_code, 0);
  EXPECT_NE(gc_said.find("removed the outputs of 1 job ("), std::string::npos) << gc_said;
  EXPECT_NE(gc_said.find(", 1 running"), std::string::npos) << gc_said;
  EXPECT_TRUE(fs::exists(machines[0].dest / "outputs/job3/node0"));
}

// Files a job writes into its environment (its working directory) leave it
// when the job ends: moved to $DISTENV_OUTPUT/written at their paths, so
// they can be collected, and the environment stays as installed, but for
// what distenv.toml calls `mutable` and an environment another job holds.
TEST_F(Collect, WhatAJobWritesIntoItsEnvironmentMovesToItsOutputs) {
  write(project / "distenv.toml", "runtime = \"sh\"\ncommand = [\"true\"]\nmutable = [\"state/\"]\n");
  write(project / "state/counter", "0\n");
  options.collect = {"*.csv"};
  auto machines = cluster(2);
  for (FakeMachine& m : machines)
    m.processes.each_worker = [](const workers::Spec& spec) {
      const std::string n = workers::env_value(spec.env, "DISTENV_WORKER");
      write(spec.cwd / ("r" + n + ".csv"), "in the tree\n");
      write(spec.cwd / "plots" / ("p" + n + ".txt"), "a plot\n");
      write(spec.cwd / "state" / ("s" + n), "kept\n");
    };
  const FakeJobResult r = run_fake_job(machines, options);
  expect_agreed(r, 0);
  const std::string tree = test::plan(project).tree.tree_hash.hex();
  for (const FakeMachine& m : machines) {
    const fs::path installed = m.dest / "envs" / tree / "proj";
    EXPECT_FALSE(fs::exists(installed / "r0.csv")) << m.host;
    EXPECT_FALSE(fs::exists(installed / "plots")) << m.host;
    EXPECT_TRUE(fs::exists(installed / (m.host == "node0" ? "state/s0" : "state/s2")))
        << m.host << ": mutable";
    const fs::path written = m.dest / "outputs/job1" / m.host / "written/proj";
    EXPECT_TRUE(fs::exists(written / (m.host == "node0" ? "r1.csv" : "r3.csv"))) << m.host;
    EXPECT_TRUE(fs::exists(written / "plots")) << m.host;
  }
  EXPECT_TRUE(collected().count("job1/node1/written/proj/r3.csv")) << "collected like any output";
  EXPECT_NE(r.root().err.find("distenv: warning: node1: the job wrote 3 entries ("), std::string::npos)
      << r.root().err;
  EXPECT_NE(r.root().err.find("moved to $DISTENV_OUTPUT/written"), std::string::npos) << r.root().err;

  // Another job holding the environment: what this one wrote stays.
  options.job_id = "job2";
  install::Store store(machines[0].dest, install::Store::Sharing::private_to_user);
  const install::Store::InUse other(store, test::plan(project).tree.tree_hash);
  const FakeJobResult held = run_fake_job(machines, options);
  expect_agreed(held, 0);
  EXPECT_TRUE(fs::exists(machines[0].dest / "envs" / tree / "proj/r0.csv"));
  EXPECT_FALSE(fs::exists(machines[1].dest / "envs" / tree / "proj/r2.csv"));
}

TEST(CollectPatterns, MatchNamesAtAnyDepthOrPathsWithASlash) {
  EXPECT_TRUE(collect_match("*.csv", "a.csv"));
  EXPECT_TRUE(collect_match("*.csv", "deep/er/a.csv"));
  EXPECT_FALSE(collect_match("sub/*.csv", "deep/sub/a.csv"));
  EXPECT_TRUE(collect_match("sub/*.csv", "sub/a.csv"));
  EXPECT_TRUE(collect_match("**", "x/y/z"));
  EXPECT_EQ(collect_problem("/etc/*"), "must be relative to the output directory ($DISTENV_OUTPUT)");
  EXPECT_EQ(collect_problem("a/../../b"), "'..' would leave the output directory");
  EXPECT_EQ(collect_problem(""), "an empty pattern");
  EXPECT_EQ(collect_problem("a..b/*"), "");
}

TEST(CollectPatterns, JobIdsSortByTimeAndNameTheSchedulersJob) {
  const std::time_t t = 1796685302; // 2026-12-07 23:15:02 UTC
  EXPECT_EQ(job::new_job_id({"SLURM_JOB_ID=4211"}, t, 0), "20261207-231502-4211");
  EXPECT_EQ(job::new_job_id({"PBS_JOBID=77.server"}, t, 0), "20261207-231502-77");
  EXPECT_EQ(job::new_job_id({"JOB_ID=12"}, t, 0), "20261207-231502-12");
  EXPECT_EQ(job::new_job_id({"SLURM_JOB_ID=../x"}, t, 0x9f3a), "20261207-231502-9f3a");
  EXPECT_EQ(job::new_job_id({}, t, 0x19f3a), "20261207-231502-9f3a");
}

} // namespace
} // namespace distenv::test
