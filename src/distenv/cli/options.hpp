#pragma once

#include <distenv/transport/schedule.hpp>
#include <distenv/util/style.hpp>

#include <boost/filesystem/path.hpp>

#include <optional>
#include <string>
#include <vector>

namespace distenv::cli {

namespace fs = boost::filesystem;

// What distenv-bootstrap does: the job (the default), or one mode of its own.
enum class Mode {
  job,     // install everywhere, then run the workers
  plan,    // --plan: what would ship, touching nothing
  status,  // --status: one row per machine
  gc,      // --gc N
  pack,    // --pack-to FILE
  install, // --install-from FILE
};

// Everything the command line says, validated up front.
struct Options {
  Mode mode = Mode::job;
  fs::path project = ".";
  fs::path dest;             // node-local store (absolute); default $DISTENV_DEST or /tmp/distenv-<user>
  bool shared_store = false; // the store's group is trusted too (install::Store::Sharing::group)
  std::optional<std::string> julia_version;
  bool test_deps = false;         // Julia: ship the [sources] of test-only [extras] too
  bool gitignore = true;          // leave out what git ignores in roots inside a work tree
  bool allow_secrets = false;     // ship private keys and credential files found in the roots
  std::string depot = "closure";  // Julia: ship the manifest's registered packages and artifacts (or none)
  std::string runtime = "system"; // Julia: the machines' own julia (system) or rank 0's, shipped (ship)
  int gc_keep = -1;               // --gc N: keep the N most recently used environments
  bool gc_dry_run = false;        // --gc-dry-run: say what --gc would remove, remove nothing
  fs::path report;                // JSON report file
  fs::path pack_to;               // write the packed environment to a file
  fs::path install_from;          // install a packed environment from a file
  std::optional<std::string> tree_hash; // expected hash for --install-from
  size_t chunk_size = 0;                // 0: chosen from the archive's estimated size and the machines
  int zstd_level = 3;
  bool zstd_adapt = true;    // no --zstd-level: the level follows the slower side of the stream
  int zstd_threads = 0;      // compression workers (0: single-threaded)
  std::string link = "auto"; // how installed files come from the store's objects: auto|reflink|hardlink|copy
  unsigned hash_threads = 2;
  int workers = 0;                       // per machine; 0 = auto (hardware threads); at most k_max_workers
  std::vector<std::string> each_machine; // once-per-machine shell commands
  bool instantiate = false;              // Julia: Pkg.instantiate(), then --precompile
  bool precompile = false;               // Julia: compile once per compile class, send the caches
  bool offline = false;                  // Julia: every machine proves loading needs no network or compiling
  double grace_seconds = 5.0;            // SIGTERM -> SIGKILL for workers
  bool control_stdin = false;            // rank 0 reads "signal WORKER SIG" lines on stdin (front ends)
  bool check_input = false;              // check the options and read the environment here, then exit
  double connect_timeout_seconds = 60;   // every machine joins the job's first step within this
  double heartbeat_timeout_seconds = 20; // a machine silent for longer ends the job (0: no heartbeats)
  double lock_timeout_seconds = 600;     // the longest wait for another job's hold on the store
  std::optional<transport::Method> broadcast; // none: chosen by the cost model
  bool verbose = false;
  bool quiet = false;                 // errors and worker output only
  ColorMode color = ColorMode::auto_; // --color: error/warning lines in colour
  std::vector<std::string> command;   // after "--"
  // Outputs: every machine's $DISTENV_OUTPUT (<dest>/outputs/<job id>/<host>);
  // what matches `collect` comes back to <collect_into>/<job id>/<host>.
  std::vector<std::string> collect; // globs (util/glob.hpp collect_match), with distenv.toml's
  fs::path collect_into = "distenv-results";
  std::string job_id;     // default: the time and the scheduler's job id (or a random suffix)
  bool collector = false; // this rank only receives what is collected (distenv run adds it)
};

// More workers than this on one machine is a typo, not a plan.
inline constexpr int k_max_workers = 4096;

// The store when neither --dest nor $DISTENV_DEST says: node-local, this
// user's own (/tmp/distenv-<user name>, or -<uid> when it has no name).
fs::path default_dest();

// Parses argv. Returns nullopt after printing --help / --version (exit 0);
// throws InputError with CLI11's one-line message for bad options.
std::optional<Options> parse_options(int argc, const char* const* argv);

} // namespace distenv::cli
