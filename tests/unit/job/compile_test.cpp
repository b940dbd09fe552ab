// Phase compile with machines as threads of this process: one machine per
// compile class compiles (the seam that reports a machine's class gives
// them different ones), the class's other machines receive its caches, each
// machine's check failing names it, and nothing compiles where it should not.
#include "support/fake_cluster.hpp"
#include "support/temp_dir.hpp"

#include <distenv/workers/activation.hpp>

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <sys/stat.h>

namespace distenv::test {
namespace {

const std::string k_foo = "5f1a2b3c-0000-4000-8000-000000000002";

// The first entry of a spec's JULIA_DEPOT_PATH: where Julia writes caches.
fs::path first_depot(const workers::Spec& spec) {
  const std::string path = workers::env_value(spec.env, "JULIA_DEPOT_PATH");
  return path.substr(0, path.find(':'));
}

class Compile : public ::testing::Test {
protected:
  void SetUp() override {
    copy_fixture("julia-v1", dir / "src");
    write(dir / "bin/julia", "#!/bin/sh\nexit 0\n");
    ::chmod((dir / "bin/julia").c_str(), 0755);
    options.project = dir / "src/proj";
    options.chunk_size = 4096;
    options.zstd_level = 1;
    options.precompile = true;
    options.command = {"julia", "-e", "using Foo"};
  }

  std::vector<FakeMachine> cluster(const std::vector<std::string>& classes) {
    std::vector<FakeMachine> machines(classes.size());
    for (size_t m = 0; m < classes.size(); ++m) {
      FakeMachine& f = machines[m];
      f.host = "node" + std::to_string(m);
      f.dest = dir / ("disk" + std::to_string(m));
      f.julia_class = classes[m];
      f.environment = {"PATH=" + (dir / "bin").string() + ":/usr/bin:/bin", "HOME=/root"};
      // Compiling writes a cache named after the machine that made it.
      f.processes.julia_step = [host = f.host](const workers::Spec& spec) {
        if (spec.label.ends_with(":compile"))
          write(first_depot(spec) / "compiled/v1.5/Foo" / (host + ".ji"), "cache made on " + host + "\n");
        return 0;
      };
    }
    return machines;
  }

  static std::vector<std::string> steps(const RankEnd& end) {
    std::vector<std::string> labels;
    for (const workers::Spec& s : end.julia_steps)
      labels.push_back(s.label.substr(s.label.find(':') + 1));
    return labels;
  }

  TempDir dir;
  cli::Options options;
};

TEST_F(Compile, OneMachinePerClassCompilesAndTheOthersReceiveItsCaches) {
  auto machines = cluster({"A", "A", "B", "B", "A"});
  const FakeJobResult r = run_fake_job(machines, options);
  ASSERT_FALSE(r.hung) << r.abort_reason;
  ASSERT_EQ(r.root().exit_code, 0) << r.root().err;
  const std::vector<std::vector<std::string>> expected = {
      {"compile", "check"}, {"check"}, {"compile", "check"}, {"check"}, {"check"}};
  for (const RankEnd& end : r.ranks) {
    EXPECT_EQ(steps(end), expected[size_t(end.machine)]) << "machine " << end.machine;
    ASSERT_FALSE(end.workers.empty());
    EXPECT_EQ(first_depot(end.workers[0]),
              machines[size_t(end.machine)].dest / "julia" / machines[size_t(end.machine)].julia_class);
  }
  for (size_t m : {1u, 4u}) {
    EXPECT_EQ(slurp(machines[m].dest / "julia/A/compiled/v1.5/Foo/node0.ji"), "cache made on node0\n");
    EXPECT_FALSE(fs::exists(machines[m].dest / "julia/B")) << "no class B caches on a class A machine";
  }
  EXPECT_EQ(slurp(machines[3].dest / "julia/B/compiled/v1.5/Foo/node2.ji"), "cache made on node2\n");
  EXPECT_NE(r.root().out.find("compiled once for class A (3 machines): on node0 in"), std::string::npos)
      << r.root().out;
  EXPECT_NE(r.root().out.find("1 cache file (20 B) sent to the 2 machines that lacked them"),
            std::string::npos)
      << r.root().out;
  EXPECT_NE(r.root().out.find("compiled once for class B (2 machines): on node2"), std::string::npos)
      << r.root().out;

  // The next job: the compilers find nothing new to compile; nothing is sent.
  for (FakeMachine& m : machines)
    m.processes.julia_step = [](const workers::Spec&) { return 0; };
  const FakeJobResult again = run_fake_job(machines, options);
  ASSERT_EQ(again.root().exit_code, 0) << again.root().err;
  EXPECT_NE(again.root().out.find("class A (3 machines): on node0 in"), std::string::npos)
      << again.root().out;
  EXPECT_NE(again.root().out.find("the other machines had every cache"), std::string::npos)
      << again.root().out;
}

TEST_F(Compile, AMachineWhoseCheckFindsAStaleCacheEndsTheJobNamingItAndThePackage) {
  auto machines = cluster({"A", "A", "A"});
  machines[2].processes.julia_step = [](const workers::Spec& spec) {
    if (!spec.label.ends_with(":check"))
      return 0;
    write(spec.argv.back(), "stale\tFoo\t" + k_foo + "\n");
    return 1;
  };
  const FakeJobResult r = run_fake_job(machines, options);
  ASSERT_FALSE(r.hung) << r.abort_reason;
  for (const RankEnd& end : r.ranks) {
    EXPECT_EQ(end.exit_code, 1) << end.err;
    EXPECT_TRUE(end.workers.empty()) << "no worker starts when a machine would compile";
  }
  EXPECT_NE(r.root().err.find("node2: Foo (" + k_foo + ") would compile when loaded: no valid cache in " +
                              (machines[2].dest / "julia/A").string() +
                              "/compiled; run the job with --precompile"),
            std::string::npos)
      << r.root().err;
}

TEST_F(Compile, ACompilerThatFailsEndsTheJobNamingItAndNothingIsSent) {
  auto machines = cluster({"A", "A", "B"});
  machines[0].processes.julia_step = [](const workers::Spec& spec) {
    return spec.label.ends_with(":compile") ? 1 : 0;
  };
  const FakeJobResult r = run_fake_job(machines, options);
  ASSERT_FALSE(r.hung) << r.abort_reason;
  for (const RankEnd& end : r.ranks) {
    EXPECT_EQ(end.exit_code, 1) << end.err;
    EXPECT_FALSE(end.aborted) << end.err;
    EXPECT_TRUE(end.workers.empty());
  }
  EXPECT_NE(r.root().err.find("node0: compile (import Pkg; Pkg.precompile()) exited with 1"),
            std::string::npos)
      << r.root().err;
  EXPECT_FALSE(fs::exists(machines[1].dest / "julia/A/compiled")) << "nothing sent from a failed compile";
}

TEST_F(Compile, InstantiateRunsOnEveryMachineWhenNoDepotShipsThenCompilesOncePerClass) {
  options.precompile = false;
  options.instantiate = true;
  auto machines = cluster({"A", "A", "B"});
  const FakeJobResult r = run_fake_job(machines, options);
  ASSERT_EQ(r.root().exit_code, 0) << r.root().err;
  const std::vector<std::vector<std::string>> expected = {
      {"instantiate", "compile", "check"}, {"instantiate", "check"}, {"instantiate", "compile", "check"}};
  for (const RankEnd& end : r.ranks) {
    EXPECT_EQ(steps(end), expected[size_t(end.machine)]) << "machine " << end.machine;
    // Julia 1.6+ would compile after instantiating, on every machine at once: not here.
    EXPECT_EQ(workers::env_value(end.julia_steps.at(0).env, "JULIA_PKG_PRECOMPILE_AUTO"), "0");
    EXPECT_TRUE(end.each_machine.empty()) << "instantiate is no each-machine command any more";
  }
}

TEST_F(Compile, OfflineChecksEveryMachineAndCompilesNowhere) {
  options.precompile = false;
  options.offline = true;
  auto machines = cluster({"A", "B"});
  const FakeJobResult r = run_fake_job(machines, options);
  ASSERT_EQ(r.root().exit_code, 0) << r.root().err;
  for (const RankEnd& end : r.ranks) {
    EXPECT_EQ(steps(end), std::vector<std::string>{"check"});
    EXPECT_EQ(workers::env_value(end.workers.at(0).env, "JULIA_PKG_OFFLINE"), "true");
  }
  EXPECT_EQ(r.root().out.find("compiled once"), std::string::npos) << r.root().out;
}

TEST_F(Compile, AMissingPackageNamesTheMachineAndSaysItWouldDownload) {
  options.precompile = false;
  options.offline = true;
  auto machines = cluster({"A", "A"});
  machines[1].processes.julia_step = [](const workers::Spec& spec) {
    write(spec.argv.back(), "missing\tFoo\t" + k_foo + "\n");
    return 1;
  };
  const FakeJobResult r = run_fake_job(machines, options);
  EXPECT_EQ(r.root().exit_code, 1);
  EXPECT_NE(r.root().err.find("node1: Foo (" + k_foo + ") cannot load: in no depot on JULIA_DEPOT_PATH="),
            std::string::npos)
      << r.root().err;
}

TEST_F(Compile, PrecompileIsForJuliaEnvironments) {
  write(dir / "gen/distenv.toml", "runtime = \"sh\"\ncommand = [\"true\"]\n");
  options.project = dir / "gen";
  auto machines = cluster({"A", "A"});
  const FakeJobResult r = run_fake_job(machines, options);
  EXPECT_EQ(r.root().exit_code, 2);
  EXPECT_NE(
      r.root().err.find("--precompile, --instantiate and --offline are for Julia environments; this one "
                        "runs 'sh'"),
      std::string::npos)
      << r.root().err;
}

} // namespace
} // namespace distenv::test
