// The program: parse options, then one of the modes. The job itself is in job.cpp.
#include <distenv/run.hpp>

#include <distenv/cli/options.hpp>
#include <distenv/env/julia_depot.hpp>
#include <distenv/hash/hash.hpp>
#include <distenv/install/slot.hpp>
#include <distenv/install/store.hpp>
#include <distenv/job.hpp>
#include <distenv/pack/archive_writer.hpp>
#include <distenv/pipeline.hpp>
#include <distenv/report/plan_report.hpp>
#include <distenv/transport/comm_mpi.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/util/main.hpp>
#include <distenv/util/style.hpp>
#include <distenv/util/units.hpp>
#include <distenv/workers/activation.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace distenv {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void warn(const Prepared& p) {
  for (const std::string& w : p.warnings)
    std::fprintf(stderr, "%s%s\n", warning_prefix().c_str(), w.c_str());
}

int run_plan(const cli::Options& o) {
  Prepared p = prepare(o);
  warn(p);
  if (!p.depot)
    env::verify_registered(p.env); // --plan only: it reads every file of them (the depot's are verified)
  const install::Store store = store_for(o);
  const fs::path root = store.path_of(p.tree.tree_hash);
  const std::string depot_path = store.julia_dir().string() + ":" + store.depot_dir().string();
  std::fputs(report::plan_text(p.env, p.layout, p.tree, root).c_str(), stdout);
  if (p.depot)
    std::fputs(report::depot_text(p.depot->closure, p.depot->tree, store.depot_dir(), depot_path).c_str(),
               stdout);
  else if (!p.env.registered.empty())
    fmt::print("depot        none (--depot none): every machine loads the registered packages from its own "
               "depots\n");
  const fs::path place = install::first_place(store_for(o), p.layout.project) / p.layout.project;
  fmt::print("stable dir   {} (the project's place: the same for every version)\n", place.string());
  fmt::print("hashes       {} files read, {} known to the hash cache\n", p.hashed_files, p.cached_files);
  auto j = report::plan_json(p.env, p.layout, p.tree, root);
  j["stable_project_dir"] = place.string();
  j["hashed_files"] = p.hashed_files;
  j["cached_files"] = p.cached_files;
  if (p.depot)
    j["depot"] = report::depot_json(p.depot->closure, p.depot->tree, store.depot_dir(), depot_path);
  write_report(o.report, j);
  return 0;
}

int run_pack_to(const cli::Options& o) {
  Prepared p = prepare(o);
  warn(p);
  auto start = std::chrono::steady_clock::now();
  pack::FileChunkSink sink(o.pack_to);
  pack::PackOptions po;
  po.chunk_size = o.chunk_size ? o.chunk_size : size_t(1) << 20; // a file: no pipeline to fill
  po.zstd_level = o.zstd_level;
  po.zstd_threads = o.zstd_threads;
  pack::PackStats stats = pack::pack_tree(p.tree, sink, po);
  fmt::print("packed {} entries, {} -> {} in {:.2f} s: {}\n", stats.entries, human_bytes(stats.content_bytes),
             human_bytes(stats.archive_bytes), seconds_since(start), o.pack_to.string());
  fmt::print("tree hash {}\n", p.tree.tree_hash.hex());
  auto j = report::plan_json(p.env, p.layout, p.tree, store_for(o).path_of(p.tree.tree_hash));
  j["archive_bytes"] = stats.archive_bytes;
  write_report(o.report, j);
  return 0;
}

int run_install_from(const cli::Options& o) {
  std::optional<hash::Hash128> expected;
  if (o.tree_hash) {
    expected = hash::Hash128::from_hex(*o.tree_hash);
    if (!expected)
      throw InputError(fmt::format("--tree-hash {}: expected 32 hex digits", *o.tree_hash));
  }
  auto start = std::chrono::steady_clock::now();
  pack::FileChunkSource source(o.install_from, o.chunk_size ? o.chunk_size : size_t(1) << 20);
  install::Store store = store_for(o);
  install::Store::Result r = store.install(expected, 0, source);
  fmt::print("{} {} ({} written in {:.2f} s)\n",
             r.reused ? "already installed:" : "installed:", r.dir.string(), human_bytes(r.bytes_written),
             seconds_since(start));
  nlohmann::ordered_json j;
  j["install_root"] = r.dir.string();
  j["tree_hash"] = r.tree_hash.hex();
  j["reused"] = r.reused;
  j["bytes_written"] = r.bytes_written;
  write_report(o.report, j);
  return 0;
}

// The modes that span the machines of an MPI job (or a singleton without
// mpirun): one MPI session for the whole run.
int run_mpi(const cli::Options& o, int argc, const char* const* argv) {
  transport::MpiSession session(argc, argv);
  catch_stop_signal(); // distenv run's Ctrl-C, through mpirun: every rank stops tidily
  const std::unique_ptr<transport::MpiComm> world = transport::MpiComm::world();
  workers::ProcessRunner runner;
  JobContext ctx{*world, machine_name(), runner, workers::current_environment(), std::cout, std::cerr};
  ctx.heartbeats = session.threads();
  ctx.control_fd = 0;
  if (o.mode == cli::Mode::status)
    return run_status(o, ctx);
  if (o.mode == cli::Mode::gc)
    return run_gc(o, ctx);
  ctx.progress = stderr;
  return run_job(o, ctx);
}

} // namespace

int run(int argc, const char* const* argv) {
  return handle_errors([&] {
    std::optional<cli::Options> options = cli::parse_options(argc, argv); // options
    if (!options)
      return 0;
    const cli::Options& o = *options;
    set_color(o.color);
    if (o.check_input) { // for distenv run: whether the job collects (it may add a collecting rank)
      if (const size_t patterns = check_input(o))
        fmt::print("collect {}\n", patterns);
      return 0;
    }
    if (o.mode != cli::Mode::job)
      check_output_path(o.report, "--report"); // the job: rank 0 checks it
    check_output_path(o.pack_to, "--pack-to");
    switch (o.mode) {
    case cli::Mode::plan:
      return run_plan(o);
    case cli::Mode::pack:
      return run_pack_to(o);
    case cli::Mode::install:
      return run_install_from(o);
    case cli::Mode::job:
    case cli::Mode::status:
    case cli::Mode::gc:
      break;
    }
    return run_mpi(o, argc, argv);
  });
}

} // namespace distenv
