// `distenv`: the front end that writes the mpirun line for distenv-bootstrap.
#include <distenv/launch/launcher.hpp>

#include <distenv/launch/help.hpp>
#include <distenv/launch/machines.hpp>
#include <distenv/launch/mpirun.hpp>

#include <distenv/util/command.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/main.hpp>
#include <distenv/util/style.hpp>
#include <distenv/util/suggest.hpp>
#include <distenv/util/units.hpp>

#ifndef DISTENV_VERSION
#define DISTENV_VERSION "0.1.0"
#endif

#include <CLI/CLI.hpp>
#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace distenv::launch {

namespace {

constexpr Subcommand k_subcommands[] = {Subcommand::run,     Subcommand::status, Subcommand::plan,
                                        Subcommand::gc,      Subcommand::path,   Subcommand::pack,
                                        Subcommand::install, Subcommand::version};

std::string bootstrap_path() {
  if (const char* b = std::getenv("DISTENV_BOOTSTRAP"); b && *b)
    return b;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    const fs::path here = fs::path(self).parent_path();
    for (const fs::path& c : {here / "distenv-bootstrap"}) {
      boost::system::error_code ec;
      if (fs::exists(c, ec) && ::access(c.c_str(), X_OK) == 0)
        return c.string();
    }
  }
  const char* path = std::getenv("PATH");
  std::string found = find_program("distenv-bootstrap", path ? path : "");
  if (found.empty())
    throw Error("distenv-bootstrap not found next to distenv or on PATH (set DISTENV_BOOTSTRAP)");
  return found;
}

// Replaces this process with `argv` (the exit code becomes the program's).
[[noreturn]] void exec(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  throw Error(fmt::format("{}: {}", argv[0], std::strerror(errno)), 127);
}

// distenv-bootstrap --check-input with the job's options: a typo or a
// broken manifest is exit 2 here, not after mpirun started a rank on every
// machine (and before --dry-run prints a line that could not run).
// Its status, and whether the job collects outputs ("collect N" on stdout).
std::pair<int, bool> check_input(const std::string& bootstrap, const Command& c) {
  std::vector<std::string> cmd{bootstrap, "--check-input"};
  cmd.insert(cmd.end(), c.bootstrap_args.begin(), c.bootstrap_args.end());
  if (!c.command.empty()) {
    cmd.push_back("--");
    cmd.insert(cmd.end(), c.command.begin(), c.command.end());
  }
  const CommandResult r = run_command(cmd, ".");
  std::fputs(r.err.c_str(), stderr);
  return {r.status, r.out.rfind("collect ", 0) == 0};
}

std::vector<std::string> environment() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    env.emplace_back(*e);
  return env;
}

} // namespace

std::string shell_quote(const std::string& word) {
  static const std::regex k_plain(R"([A-Za-z0-9_@%+=:,./-]+)");
  if (!word.empty() && std::regex_match(word, k_plain))
    return word;
  std::string out = "'";
  for (char ch : word)
    out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

const char* subcommand_name(Subcommand s) {
  switch (s) {
  case Subcommand::help:
    return "help";
  case Subcommand::run:
    return "run";
  case Subcommand::status:
    return "status";
  case Subcommand::plan:
    return "plan";
  case Subcommand::gc:
    return "gc";
  case Subcommand::path:
    return "path";
  case Subcommand::pack:
    return "pack";
  case Subcommand::install:
    return "install";
  case Subcommand::version:
    return "version";
  }
  return "?";
}

bool launches(Subcommand s) {
  return s == Subcommand::run || s == Subcommand::status || s == Subcommand::gc;
}

namespace {

// The subcommand `word` names (help for -h, --help, help); InputError with
// the nearest one when it names none.
Subcommand subcommand(const std::string& word) {
  if (word == "-h" || word == "--help" || word == "help")
    return Subcommand::help;
  std::vector<std::string> names;
  for (Subcommand s : k_subcommands) {
    names.push_back(subcommand_name(s));
    if (word == names.back() || (word == "--version" && s == Subcommand::version))
      return s;
  }
  const std::string hint = nearest(word, names);
  throw InputError(fmt::format("unknown command '{}'{}: run, status, plan, gc, path, pack, install, version "
                               "(see distenv --help)",
                               word, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
}

} // namespace

std::optional<Command> parse(int argc, const char* const* argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty())
    throw InputError(
        "a command is needed: run, status, plan, gc, path, pack, install, version (see distenv --help)");
  Command c;
  c.mode = subcommand(args.front());
  if (c.mode == Subcommand::help)
    return c;
  args.front() = subcommand_name(c.mode);
  // The worker command is everything after the first "--"; the rest is
  // parsed by CLI11: the launcher's own options per subcommand, and what it
  // does not know goes to distenv-bootstrap, in order.
  auto dashes = std::find(args.begin(), args.end(), std::string("--"));
  if (dashes != args.end())
    c.command.assign(dashes + 1, args.end());
  std::vector<std::string> mine(args.begin(), dashes);
  if (std::find(mine.begin(), mine.end(), "-h") != mine.end() ||
      std::find(mine.begin(), mine.end(), "--help") != mine.end()) {
    c.help_for = std::exchange(c.mode, Subcommand::help);
    return c;
  }
  CLI::App app{"distenv", "distenv"};
  app.require_subcommand(1, 1);
  std::string hosts;
  bool dry_run = false;
  for (Subcommand mode : k_subcommands) {
    CLI::App* sub = app.add_subcommand(subcommand_name(mode));
    sub->allow_extras();
    sub->add_flag("--dry-run", dry_run);
    if (launches(mode)) {
      sub->add_option("-H,--hostfile", c.hostfile);
      sub->add_option("--hosts", hosts);
      sub->add_option("--mca", c.mca)
          ->expected(2)
          ->type_size(1)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
          ->allow_extra_args(false);
      sub->add_option("-x", c.forward)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
          ->allow_extra_args(false);
      sub->add_flag("--skip-unreachable", c.skip_unreachable);
      sub->add_option("--probe-timeout", c.probe_timeout)->check([](const std::string& t) {
        return number_problem(t, 0.1, 3600);
      });
      sub->add_option("--mpirun", c.mpirun);
    } else if (mode == c.mode) {
      for (const char* name : {"-H", "--hostfile", "--hosts"})
        if (std::find(mine.begin(), mine.end(), name) != mine.end())
          throw InputError(
              fmt::format("{} runs on this machine: no hosts ({})", subcommand_name(mode), name));
    }
    if (mode == Subcommand::gc)
      sub->add_option("--keep", c.keep)->check(CLI::NonNegativeNumber.description(""));
  }
  std::vector<std::string> reversed(mine.rbegin(), mine.rend()); // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw InputError(fmt::format("{}; see distenv --help", e.what()));
  }
  if (c.mca.size() % 2)
    throw InputError("--mca needs KEY VALUE");
  c.bootstrap_args = app.get_subcommands().front()->remaining();
  std::stringstream list(hosts);
  for (std::string h; std::getline(list, h, ',');)
    if (!h.empty())
      c.hosts.push_back(h);
  if (dry_run) {
    if (c.mode == Subcommand::gc)
      c.bootstrap_args.push_back("--gc-dry-run");
    else
      c.dry_run = true;
  }
  if (!launches(c.mode) && (!c.hostfile.empty() || !c.hosts.empty()))
    throw InputError(fmt::format("{} runs on this machine: no hosts", subcommand_name(c.mode)));
  if (!launches(c.mode) && !c.command.empty())
    throw InputError(fmt::format("{} takes no worker command", subcommand_name(c.mode)));
  return c;
}

namespace {

// `distenv path`: the plan's JSON report (--plan --report), read for its
// stable_project_dir (the project's place), in a private temporary directory.
int print_path(std::vector<std::string> cmd, bool quiet) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/distenv-path-XXXXXX";
  if (!::mkdtemp(dir.data()))
    throw Error(fmt::format("{}: cannot create: {}", dir, errno_text(errno)));
  const fs::path report = fs::path(dir) / "plan.json";
  cmd.insert(cmd.end(), {"--report", report.string()});
  const CommandResult r = run_command(cmd, ".");
  std::string json;
  try {
    json = r.status == 0 ? read_file(report) : "";
  } catch (const Error&) {
  }
  boost::system::error_code ec;
  fs::remove_all(dir, ec);
  std::fputs(r.err.c_str(), stderr);
  if (r.status != 0)
    return r.status;
  const auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || !j.contains("stable_project_dir") || !j["stable_project_dir"].is_string())
    throw Error("distenv-bootstrap --plan --report did not say where the project goes");
  const std::string place = j["stable_project_dir"].get<std::string>();
  std::printf("%s\n", place.c_str());
  std::fflush(stdout);
  boost::system::error_code exists;
  if (!quiet && !fs::exists(place, exists)) // a path, not an install: say so (each machine has its own)
    std::fprintf(stderr,
                 "%snot installed on this machine (%s): `distenv run` installs it on the machines of a job\n",
                 warning_prefix().c_str(), machine_name().c_str());
  return 0;
}

} // namespace

int main(int argc, const char* const* argv) {
  set_color(ColorMode::auto_);
  return handle_errors([&]() -> int {
    std::optional<Command> parsed = parse(argc, argv);
    Command& c = *parsed;
    if (c.mode == Subcommand::help) {
      print_help(c.help_for, bootstrap_path());
      return 0;
    }
    if (c.mode == Subcommand::version) {
      std::printf("distenv %s\n", DISTENV_VERSION);
      std::fflush(stdout);
      exec({bootstrap_path(), "--version"});
    }
    const std::string bootstrap = bootstrap_path();
    bool collects = false;
    if (c.mode == Subcommand::run) { // bad input ends here, before anything starts anywhere
      int status = 0;
      std::tie(status, collects) = check_input(bootstrap, c);
      if (status != 0)
        return status;
    }
    std::vector<std::string> ms = machines(c);
    if (!ms.empty() && !c.dry_run && launches(c.mode))
      ms = probe(ms, c);
    const std::vector<std::string> cmd =
        command_line(c, ms, bootstrap, environment(), ::geteuid() == 0, collects);
    if (c.dry_run) {
      std::string line;
      for (const std::string& w : cmd)
        line += (line.empty() ? "" : " ") + shell_quote(w);
      std::printf("%s\n", line.c_str());
      return 0;
    }
    if (c.mode == Subcommand::path)
      return print_path(cmd, c.quiet());
    if (launches(c.mode))
      return run_mpirun(cmd);
    exec(cmd);
  });
}

} // namespace distenv::launch
