// The distenv front end's pure parts: parsing, machines, the mpirun line.
#include <distenv/launch/launcher.hpp>
#include <distenv/launch/machines.hpp>
#include <distenv/util/error.hpp>

#include "support/errors.hpp"
#include "support/temp_dir.hpp"

#include <distenv/util/files.hpp>

#include <gtest/gtest.h>

using namespace distenv;
using distenv::test::TempDir;
using distenv::test::write;

namespace {

launch::Command parse(std::vector<const char*> args) {
  args.insert(args.begin(), "distenv");
  return *launch::parse(static_cast<int>(args.size()), args.data());
}

std::string error_of(std::vector<const char*> args) {
  return test::error_of<InputError>([&] { parse(std::move(args)); });
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words)
    out += (out.empty() ? "" : " ") + launch::shell_quote(w);
  return out;
}

} // namespace

TEST(Launcher, RunPassesWhatItDoesNotKnowToTheBootstrapInOrder) {
  const auto c = parse({"run", "-H", "hosts", "-p", "proj", "--mca", "btl", "tcp,self", "--workers", "4",
                        "-x", "V", "--", "julia", "-h"});
  EXPECT_EQ(c.mode, launch::Subcommand::run);
  EXPECT_EQ(c.hostfile, "hosts");
  EXPECT_EQ(c.mca, (std::vector<std::string>{"btl", "tcp,self"}));
  EXPECT_EQ(c.forward, (std::vector<std::string>{"V"}));
  EXPECT_EQ(c.bootstrap_args, (std::vector<std::string>{"-p", "proj", "--workers", "4"}));
  EXPECT_EQ(c.command, (std::vector<std::string>{"julia", "-h"}));
}

TEST(Launcher, TheMpirunLineOneRankPerMachineThisOneFirstWhatBelongsToUsForwarded) {
  auto c = parse({"run", "--hosts", "n1,n2,n1", "-p", "/x", "--", "sh", "-c", "echo $HOME"});
  const auto ms = launch::machines(c);
  EXPECT_EQ(ms, (std::vector<std::string>{"n1", "n2"}));
  const auto line = launch::command_line(
      c, {"n1", "localhost"}, "/b/distenv-bootstrap",
      {"DISTENV_PROJECT=/no", "DISTENV_DEST=/d", "JULIA_NUM_THREADS=4", "HOME=/root"}, false);
  EXPECT_EQ(joined(line), "mpirun --host localhost,n1 -np 2 --map-by ppr:1:node --bind-to none --stdin none "
                          "-x DISTENV_DEST "
                          "-x JULIA_NUM_THREADS /b/distenv-bootstrap -p /x -- sh -c 'echo $HOME'");
  c = parse({"gc", "--keep", "1", "--dry-run"});
  EXPECT_EQ(
      joined(launch::command_line(c, {}, "b", {}, true)),
      "mpirun --allow-run-as-root --map-by ppr:1:node --bind-to none --stdin none b --gc 1 --gc-dry-run");
  c = parse({"path", "-p", "p"});
  EXPECT_EQ(joined(launch::command_line(c, {}, "b", {}, false)), "b --plan -p p");
}

// Ctrl-C stops the job tidily through the ranks (SIGUSR2: util/interrupt.hpp),
// not through mpirun's kill timer: Open MPI's default stays (a failed job's
// daemons wait twice it), and the user's own setting passes through.
TEST(Launcher, MpirunKeepsItsKillTimerUnlessTheUserSetsIt) {
  const auto line = [](std::vector<const char*> args) {
    return joined(launch::command_line(parse(std::move(args)), {}, "b", {}, false));
  };
  EXPECT_EQ(line({"run", "--grace", "10", "--", "x"}).find("odls_base_sigkill_timeout"), std::string::npos);
  EXPECT_NE(line({"run", "--mca", "odls_base_sigkill_timeout", "30", "--", "x"})
                .find("--mca odls_base_sigkill_timeout 30 "),
            std::string::npos);
}

TEST(Launcher, ACollectingJobFromOutsideItsMachinesGetsACollectingRankHere) {
  auto c = parse({"run", "--hosts", "n1,n2", "--collect", "*.csv", "--", "x"});
  const std::string here = host_name();
  const std::string line = joined(launch::command_line(c, {"n1", "n2"}, "b", {}, false, true));
  EXPECT_NE(
      line.find(" b --collect '*.csv' -- x : -np 1 --host " + here + " b --collector --collect '*.csv'"),
      std::string::npos)
      << line;
  EXPECT_EQ(line.rfind(" -- x"), line.find(" -- x")) << "the collecting rank runs no command: " << line;
  // This machine in the job: its rank 0 collects; no list (an allocation): rank 0 does.
  EXPECT_EQ(joined(launch::command_line(c, {"n1", "localhost"}, "b", {}, false, true)).find("--collector"),
            std::string::npos);
  EXPECT_EQ(joined(launch::command_line(c, {}, "b", {}, false, true)).find("--collector"), std::string::npos);
  EXPECT_EQ(joined(launch::command_line(c, {"n1", "n2"}, "b", {}, false, false)).find("--collector"),
            std::string::npos);
}

TEST(Launcher, MpirunReadsNoTerminalUnlessRankZeroTakesControlLines) {
  const auto line = [](std::vector<const char*> args) {
    return joined(launch::command_line(parse(std::move(args)), {}, "b", {}, false));
  };
  EXPECT_NE(line({"run", "--", "x"}).find(" --stdin none "), std::string::npos);
  EXPECT_EQ(line({"run", "--control-stdin", "--", "x"}).find("--stdin"), std::string::npos)
      << "rank 0 reads mpirun's stdin";
}

TEST(Launcher, HostfileNamesEachMachineOnce) {
  TempDir t;
  write(t / "hosts", "# the nodes\nnode1 slots=4\n\nnode2\nnode1\n");
  const std::string file = (t / "hosts").string();
  EXPECT_EQ(launch::machines(parse({"status", "-H", file.c_str()})),
            (std::vector<std::string>{"node1", "node2"}));
  write(t / "empty", "# none\n");
  const std::string empty = (t / "empty").string();
  try {
    launch::machines(parse({"run", "-H", empty.c_str()}));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), empty + ": no machines in it");
  }
}

TEST(Launcher, BadInputSaysWhatAndSuggests) {
  EXPECT_EQ(error_of({"stauts"}),
            "unknown command 'stauts' (did you mean 'status'?): run, status, plan, gc, path, "
            "pack, install, version (see distenv --help)");
  EXPECT_EQ(error_of({"plan", "--hosts", "a"}), "plan runs on this machine: no hosts (--hosts)");
  EXPECT_EQ(error_of({"run", "--mca", "btl"}), "--mca needs KEY VALUE");
  EXPECT_EQ(error_of({"plan", "--", "x"}), "plan takes no worker command");
  EXPECT_EQ(error_of({"run", "--probe-timeout", "nan"}),
            "--probe-timeout: expected a number from 0.1 to 3600, got 'nan'; see distenv --help");
  EXPECT_EQ(launch::shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(launch::shell_quote(""), "''");
}
