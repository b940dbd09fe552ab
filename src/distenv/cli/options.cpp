// Command-line options (CLI11) for distenv-bootstrap.
#include <distenv/cli/options.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/glob.hpp>
#include <distenv/util/suggest.hpp>
#include <distenv/util/units.hpp>

#include <CLI/CLI.hpp>
#include <archive.h>
#include <boost/filesystem/operations.hpp>
#include <boost/version.hpp>
#include <fmt/format.h>

#include <mpi.h>
#include <toml++/toml.h>
#include <tuple>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <pwd.h>
#include <thread>
#include <unistd.h>

#ifndef DISTENV_VERSION
#define DISTENV_VERSION "0.1.0"
#endif

namespace distenv::cli {

// `--version`: ours, and the MPI library's and key libraries' this binary
// runs with (MPI_Get_library_version may be called before MPI_Init).
static std::string version_text() {
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0, major = 0, minor = 0;
  MPI_Get_library_version(mpi, &length);
  MPI_Get_version(&major, &minor);
  std::string mpi_line(mpi, static_cast<size_t>(std::max(0, length)));
  mpi_line = mpi_line.substr(0, mpi_line.find_first_of("\n,"));
  const unsigned xxh = XXH_versionNumber();
  return fmt::format(
      "distenv-bootstrap {}\n"
      "  MPI: {} (MPI {}.{})\n"
      "  Boost {}.{}.{}, {}, zstd {}, xxHash {}.{}.{}, toml++ {}.{}.{}, CLI11 {}, fmt {}.{}.{}",
      DISTENV_VERSION, mpi_line, major, minor, BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
      BOOST_VERSION % 100, archive_version_string(), ZSTD_versionString(), xxh / 10000, xxh / 100 % 100,
      xxh % 100, TOML_LIB_MAJOR, TOML_LIB_MINOR, TOML_LIB_PATCH, CLI11_VERSION, FMT_VERSION / 10000,
      FMT_VERSION / 100 % 100, FMT_VERSION % 100);
}

namespace {

// "12" -> 12; 0 for anything that is not a whole number of 1 or more.
int positive_int(const std::string& text) {
  try {
    size_t used = 0;
    const int n = std::stoi(text, &used);
    return used == text.size() && n >= 1 ? n : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

} // namespace

fs::path default_dest() {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[1024];
  const uid_t uid = ::geteuid();
  const std::string who =
      ::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found ? found->pw_name : std::to_string(uid);
  return fs::path("/tmp") / ("distenv-" + who);
}

namespace {

// The options' words before they are checked.
struct Text {
  std::string project, dest, report, pack_to, install_from, chunk = "auto", collect_into;
  std::string julia_version, tree_hash, workers = "auto", broadcast = "auto", color = "auto";
  bool plan = false, status = false, no_gitignore = false;
};

// What is read and shipped.
void declare_input(CLI::App& app, Options& o, Text& t) {
  app.add_option("-p,--project", t.project,
                 "environment directory: a Julia project or a directory with distenv.toml "
                 "(default: current directory)")
      ->type_name("DIR");
  app.add_option("-d,--dest", t.dest,
                 "node-local store for installed environments (default: $DISTENV_DEST or "
                 "/tmp/distenv-<user>)")
      ->type_name("DIR");
  app.add_flag("--shared-store", o.shared_store,
               "the store is shared by the group that owns --dest: trust what its members installed");
  app.add_option("--julia-version", t.julia_version,
                 "pick the manifest Julia X.Y would pick (default: the newest versioned one)")
      ->type_name("X.Y");
  app.add_flag("--test-deps", o.test_deps,
               "Julia: also ship what tests use: the [sources] paths of test-only [extras] and packages "
               "nested in the roots that the manifest does not name (for Pkg.test on the machines)");
  app.add_flag("--no-gitignore", t.no_gitignore,
               "ship what .gitignore leaves out too (by default, roots inside a git work tree ship what git "
               "would commit, plus the project and manifest files)");
  app.add_flag(
      "--allow-secrets", o.allow_secrets,
      "ship private keys and credential files (.ssh/, .gnupg/, id_rsa, .netrc, ...) found in the roots "
      "instead of refusing");
  app.add_option("--runtime", o.runtime,
                 "Julia: system (default) runs the julia each machine has on its PATH; ship ships the Julia "
                 "installation found on PATH here into the store's depot on every machine and puts its bin "
                 "first on the workers' PATH")
      ->check(CLI::IsMember({"system", "ship"}).description(""))
      ->type_name("system|ship");
  app.add_option("--depot", o.depot,
                 "Julia: closure (default) ships the registered packages and artifacts the manifest needs "
                 "from the depots here to a depot in --dest on every machine, verified against their "
                 "git-tree-sha1; none ships none (every machine has its own depot)")
      ->check(CLI::IsMember({"closure", "none"}).description(""))
      ->type_name("closure|none");
}

// The modes of their own, and the report.
void declare_modes(CLI::App& app, Options& o, Text& t) {
  app.add_flag("--plan", t.plan, "print what would ship and where, then exit; sends nothing");
  app.add_flag("--status", t.status,
               "print one row per machine: threads, load, free memory, free space at --dest, "
               "runtime version, installed environments");
  app.add_option("--gc", o.gc_keep,
                 "on every machine, keep the N most recently used environments in --dest and "
                 "remove the others (never one in use)")
      ->check(CLI::Range(0, 1000000).description(""))
      ->type_name("N");
  app.add_flag("--gc-dry-run", o.gc_dry_run,
               "with --gc: list what it would remove on every machine, remove nothing");
  app.add_option("--report", t.report, "write a JSON report to this file")->type_name("FILE");
  app.add_option("--pack-to", t.pack_to, "write the packed environment (tar+zstd) to a file")
      ->type_name("FILE");
  app.add_option("--install-from", t.install_from, "install a packed environment from a file into --dest")
      ->type_name("FILE");
  app.add_option("--tree-hash", t.tree_hash, "with --install-from: the hash it must have")->type_name("HASH");
}

// How the job runs.
void declare_job(CLI::App& app, Options& o, Text& t) {
  app.add_option("--chunk-size", t.chunk,
                 "size of the chunks the archive travels in, or auto (default: from the archive's "
                 "estimated size and the number of machines, 64KiB-4MiB)")
      ->type_name("SIZE|auto");
  app.add_option("--zstd-level", o.zstd_level,
                 "zstd compression level, 1-19 (default: 3 to start with, then what keeps the packing and "
                 "the network equally busy, 1-9)")
      ->check(CLI::Range(1, 19).description(""))
      ->type_name("N");
  app.add_option("--zstd-threads", o.zstd_threads,
                 "zstd worker threads on the packing machine (default 0: one thread, least memory)")
      ->check(CLI::Range(0, 64).description(""))
      ->type_name("N");
  app.add_option("--link", o.link,
                 "how installed files come from the store's objects: auto (reflink where the file system "
                 "can, else hardlink), reflink, hardlink (both read-only), or copy (private, writable; "
                 "installed apart); default auto")
      ->check(CLI::IsMember({"auto", "reflink", "hardlink", "copy"}).description(""))
      ->type_name("MODE");
  app.add_option("-w,--workers", t.workers,
                 "workers per machine: a number, or auto (the machine's hardware threads)")
      ->type_name("N|auto");
  app.add_option("--each-machine", o.each_machine,
                 "shell command to run once per machine after install, before workers (repeatable)")
      ->allow_extra_args(false)
      ->type_name("COMMAND"); // one command per --each-machine
  app.add_flag("--instantiate", o.instantiate,
               "Julia: run Pkg.instantiate() before the --each-machine commands (on every machine when no "
               "depot ships, else once per compile class), then --precompile");
  app.add_flag("--precompile", o.precompile,
               "Julia: compile the environment once per compile class (Julia build and CPU), on one machine "
               "of it, into the store, and send the caches to the class's other machines; then every "
               "machine checks that loading needs no compiling");
  app.add_flag("--offline", o.offline,
               "Julia: before any worker starts, every machine proves that loading the environment needs "
               "neither network nor compiling (every package in a depot, every cache valid), else the job "
               "ends naming the machine and the package; workers get JULIA_PKG_OFFLINE=true");
  app.add_flag("--check-input", o.check_input,
               "check the options and read the environment here (when the project is on this machine), "
               "then exit: what distenv run does before it starts mpirun");
  app.add_flag("--control-stdin", o.control_stdin,
               "while the workers run, rank 0 reads lines 'signal WORKER SIGNAL' on its stdin (mpirun "
               "forwards the launcher's) and sends SIGNAL to that worker's process group: how a front end "
               "such as Distenv.jl interrupts one worker");
  app.add_option("--grace", o.grace_seconds, "seconds between SIGTERM and SIGKILL for workers (default 5)")
      ->check([](const std::string& t) { return number_problem(t, 0, 3600); })
      ->type_name("SECONDS");
  app.add_option("--connect-timeout", o.connect_timeout_seconds,
                 "seconds every machine has to join the job's first step, the version handshake, before the "
                 "job ends naming the ones missing (default 60)")
      ->check([](const std::string& text) { return number_problem(text, 0.1, 3600); })
      ->type_name("SECONDS");
  app.add_option(
         "--heartbeat-timeout", o.heartbeat_timeout_seconds,
         "seconds a machine may go without a heartbeat (its rank stopped, its network cut) before the "
         "job ends on every machine, naming it; 0: no heartbeats (default 20)")
      ->check([](const std::string& text) {
        const std::string p = number_problem(text, 0, 86400);
        return p.empty() && std::stod(text) > 0 && std::stod(text) < 1 ? "must be 0 or at least 1" : p;
      })
      ->type_name("SECONDS");
  app.add_option("--lock-timeout", o.lock_timeout_seconds,
                 "seconds to wait for another job's install or gc on the same store before giving up, "
                 "naming it (default 600)")
      ->check([](const std::string& text) { return number_problem(text, 0, 86400); })
      ->type_name("SECONDS");
  app.add_option("--broadcast", t.broadcast,
                 "how the archive travels: auto (the cost model's choice), chain, tree (binary), "
                 "twotree, mpi (the MPI library's own broadcast), or a tree fan-out number")
      ->type_name("METHOD");
  app.add_flag("-v,--verbose", o.verbose, "also print each machine's time in each phase");
  app.add_flag("-q,--quiet", o.quiet, "print only errors and worker output (no progress, no summary)");
  app.add_option("--color", t.color,
                 "colour in distenv's error and warning lines: auto (on a terminal, unless NO_COLOR is set), "
                 "always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}).description(""))
      ->type_name("WHEN");
  app.add_option("command", o.command, "worker command (after --)");
}

// What comes back.
void declare_outputs(CLI::App& app, Options& o, Text& t) {
  app.add_option("--collect", o.collect,
                 "bring the files matching GLOB in every machine's output directory ($DISTENV_OUTPUT) "
                 "back to --collect-into at the end of the job, failed or not (repeatable; a GLOB without "
                 "'/' matches file names at any depth, '**' any path)")
      ->allow_extra_args(false)
      ->check([](const std::string& g) {
        const std::string why = collect_problem(g);
        return why.empty() ? why : g + ": " + why;
      })
      ->type_name("GLOB");
  app.add_option("--collect-into", t.collect_into,
                 "where collected files land, as <DIR>/<job id>/<host>/... (default: ./distenv-results on "
                 "the machine distenv run was started on)")
      ->type_name("DIR");
  app.add_option("--job-id", o.job_id,
                 "the job's name in output and result paths (default: the start time and the scheduler's "
                 "job id, or a random suffix)")
      ->check([](const std::string& id) {
        const bool ok =
            !id.empty() && id.size() <= 64 && id.front() != '.' &&
            std::all_of(id.begin(), id.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
            });
        return ok ? std::string() : "at most 64 letters, digits, '.', '_' or '-', not starting with '.'";
      })
      ->type_name("ID");
  app.add_flag("--collector", o.collector,
               "this rank runs no environment: it receives what the machines collect (distenv run adds one "
               "on its own machine when that machine is not one of the job's)");
}

// False after --help / --version (printed).
bool parse_words(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    app.exit(e, std::cout, std::cerr);
    return false;
  } catch (const CLI::ExtrasError& e) {
    // An option nobody knows: the nearest one that exists, as git does.
    std::string word = e.what();
    for (const std::string& arg : app.remaining())
      if (arg.rfind("-", 0) == 0) {
        word = arg.substr(0, arg.find('='));
        break;
      }
    std::vector<std::string> names;
    for (const CLI::Option* opt : app.get_options())
      for (const std::string& name : opt->get_lnames())
        names.push_back("--" + name);
    const std::string best = nearest(word, names);
    throw InputError(best.empty()
                         ? fmt::format("{}; see --help", e.what())
                         : fmt::format("unknown option {} (did you mean {}?); see --help", word, best));
  } catch (const CLI::ParseError& e) {
    throw InputError(fmt::format("{}; see --help", e.what()));
  }
  return true;
}

void check_modes(Options& o, const Text& t) {
  // Modes exclude each other, and take no worker command.
  std::vector<std::string> modes;
  for (const auto& [given, mode, name] : {std::tuple{t.plan, Mode::plan, "--plan"},
                                          {t.status, Mode::status, "--status"},
                                          {o.gc_keep >= 0, Mode::gc, "--gc"},
                                          {!t.pack_to.empty(), Mode::pack, "--pack-to"},
                                          {!t.install_from.empty(), Mode::install, "--install-from"}})
    if (given) {
      modes.push_back(name);
      o.mode = mode;
    }
  if (modes.size() > 1)
    throw InputError(
        fmt::format("{} and {} cannot be used together: each is a mode of its own", modes[0], modes[1]));
  if (!modes.empty() && !o.command.empty())
    throw InputError(
        fmt::format("{} takes no worker command (got '{}'); run the job without {} to start workers",
                    modes[0], o.command.front(), modes[0]));
  if (o.gc_dry_run && o.gc_keep < 0)
    throw InputError("--gc-dry-run needs --gc N");
  if (!t.tree_hash.empty() && t.install_from.empty())
    throw InputError("--tree-hash needs --install-from (a job checks the hash of what it sends by itself)");
}

void apply(Options& o, const Text& t) {
  if (!t.project.empty())
    o.project = t.project;
  o.dest = t.dest;
  o.report = t.report;
  o.pack_to = t.pack_to;
  o.install_from = t.install_from;
  if (!t.julia_version.empty())
    o.julia_version = t.julia_version;
  o.gitignore = !t.no_gitignore;
  o.color = t.color == "always"  ? ColorMode::always
            : t.color == "never" ? ColorMode::never
                                 : ColorMode::auto_;
  if (!t.tree_hash.empty())
    o.tree_hash = t.tree_hash;
  if (t.chunk != "auto") {
    auto size = parse_size(t.chunk);
    if (!size || *size < 4096 || *size > (1ull << 30))
      throw InputError(
          fmt::format("--chunk-size {}: expected auto or a size between 4KiB and 1GiB", t.chunk));
    o.chunk_size = static_cast<size_t>(*size);
  }
  if (t.workers != "auto" && !(o.workers = positive_int(t.workers)))
    throw InputError(
        fmt::format("--workers {}: expected a number of workers (1 or more) or auto", t.workers));
  if (o.workers > k_max_workers)
    throw InputError(fmt::format("--workers {}: at most {} workers per machine", t.workers, k_max_workers));
  if (t.broadcast != "auto" && !(o.broadcast = transport::parse_method(t.broadcast)))
    throw InputError(
        fmt::format("--broadcast {}: expected auto, chain, tree, twotree, mpi or a fan-out", t.broadcast));
  if (o.dest.empty())
    throw InputError("--dest: must not be empty");
  if (!t.collect_into.empty())
    o.collect_into = t.collect_into;
  o.collect_into = fs::absolute(o.collect_into).lexically_normal();
  // Workers run elsewhere (the installed t.project): paths they are given must
  // not depend on where distenv was started.
  o.dest = fs::absolute(o.dest).lexically_normal();
  o.project = fs::absolute(o.project).lexically_normal();
  if (o.dest.filename_is_dot())
    o.dest = o.dest.parent_path();
  if (o.project.filename_is_dot())
    o.project = o.project.parent_path();
}

} // namespace

std::optional<Options> parse_options(int argc, const char* const* argv) {
  Options o;
  if (const char* dest = std::getenv("DISTENV_DEST"); dest && *dest)
    o.dest = dest;
  else
    o.dest = default_dest();
  o.hash_threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));

  CLI::App app{"distenv-bootstrap: install a development environment on every machine of an "
               "MPI job and start workers with it active (one rank per machine).",
               "distenv-bootstrap"};
  app.footer("Run under mpirun, one rank per machine (the distenv command writes this line):\n"
             "  mpirun -hostfile hosts --map-by ppr:1:node --bind-to none distenv-bootstrap [OPTIONS] -- CMD "
             "ARGS...");
  app.set_version_flag("--version", version_text);
  Text t;
  t.dest = o.dest.string();
  declare_input(app, o, t);
  declare_modes(app, o, t);
  declare_job(app, o, t);
  declare_outputs(app, o, t);
  if (!parse_words(app, argc, argv))
    return std::nullopt;
  check_modes(o, t);
  apply(o, t);
  o.zstd_adapt = app.count("--zstd-level") == 0;
  return o;
}

} // namespace distenv::cli
