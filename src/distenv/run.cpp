// The pipeline, one call per stage (see docs/ARCHITECTURE.md).
#include <distenv/run.hpp>

#include <distenv/cli/options.hpp>
#include <distenv/env/environment.hpp>
#include <distenv/hash/hash.hpp>
#include <distenv/install/store.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/pack/archive_writer.hpp>
#include <distenv/pack/pipe.hpp>
#include <distenv/report/plan_report.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace distenv {

namespace {

// What rank 0 knows after reading: the environment, where everything goes,
// and the tree that ships with its identity.
struct Prepared {
  env::Environment env;
  layout::Layout layout;
  layout::Tree tree;
};

Prepared prepare(const cli::Options& o) {
  env::ReadOptions read;
  read.project_dir = o.project;
  if (o.julia_version) {
    read.julia_version = env::parse_julia_version(*o.julia_version);
    if (!read.julia_version)
      throw InputError(fmt::format("--julia-version {}: expected MAJOR.MINOR, e.g. 1.10",
                                   *o.julia_version));
  }
  Prepared p;
  p.env = env::read_environment(read);                         // env: what the environment is
  p.layout = layout::make_layout(p.env);                       // layout: where each root goes
  p.tree = layout::build_tree(p.env, p.layout, o.hash_threads); // files, rewrites, hashes
  return p;
}

void write_report(const fs::path& file, const nlohmann::ordered_json& j) {
  if (!file.empty())
    write_file_atomic(file, j.dump(2) + "\n");
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run_plan(const cli::Options& o) {
  Prepared p = prepare(o);
  const fs::path root = install::Store(o.dest).path_of(p.tree.tree_hash);
  std::fputs(report::plan_text(p.env, p.layout, p.tree, root).c_str(), stdout);
  write_report(o.report, report::plan_json(p.env, p.layout, p.tree, root));
  return 0;
}

int run_pack_to(const cli::Options& o) {
  Prepared p = prepare(o);
  auto start = std::chrono::steady_clock::now();
  pack::FileChunkSink sink(o.pack_to);
  pack::PackStats stats = pack::pack_tree(p.tree, sink, {o.chunk_size, o.zstd_level, o.zstd_threads});
  fmt::print("packed {} entries, {} -> {} in {:.2f} s: {}\n", stats.entries,
             human_bytes(stats.content_bytes), human_bytes(stats.archive_bytes),
             seconds_since(start), o.pack_to.string());
  fmt::print("tree hash {}\n", p.tree.tree_hash.hex());
  auto j = report::plan_json(p.env, p.layout, p.tree, install::Store(o.dest).path_of(p.tree.tree_hash));
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
  pack::FileChunkSource source(o.install_from, o.chunk_size);
  install::Store store(o.dest);
  install::Store::Result r = store.install(expected, 0, source);
  fmt::print("{} {} ({} written in {:.2f} s)\n", r.reused ? "already installed:" : "installed:",
             r.dir.string(), human_bytes(r.bytes_written), seconds_since(start));
  nlohmann::ordered_json j;
  j["install_root"] = r.dir.string();
  j["tree_hash"] = r.tree_hash.hex();
  j["reused"] = r.reused;
  j["bytes_written"] = r.bytes_written;
  write_report(o.report, j);
  return 0;
}

// One machine, no MPI: pack on one thread, install on this one, through a
// bounded pipe (the same path a receiving machine takes).
int run_local_install(const cli::Options& o) {
  if (!o.command.empty())
    throw InputError("starting workers needs the MPI bootstrap, which this build does not have yet");
  Prepared p = prepare(o);
  install::Store store(o.dest);
  pack::ChunkPipe pipe(4);
  std::exception_ptr pack_failure;
  std::thread packer;
  if (!store.has(p.tree.tree_hash))
    packer = std::thread([&] {
      try {
        pack::pack_tree(p.tree, pipe, {o.chunk_size, o.zstd_level, o.zstd_threads});
      } catch (...) {
        pack_failure = std::current_exception();
        pipe.fail(pack_failure);
      }
    });
  install::Store::Result r;
  try {
    r = store.install(p.tree.tree_hash, p.tree.bytes, pipe);
  } catch (...) {
    pipe.fail(std::current_exception());
    if (packer.joinable())
      packer.join();
    if (pack_failure)
      std::rethrow_exception(pack_failure);
    throw;
  }
  if (packer.joinable())
    packer.join();
  if (pack_failure)
    std::rethrow_exception(pack_failure);
  fmt::print("{} {}\nproject dir {}\n", r.reused ? "already installed:" : "installed:",
             r.dir.string(), (r.dir / p.layout.project).string());
  auto j = report::plan_json(p.env, p.layout, p.tree, r.dir);
  j["reused"] = r.reused;
  j["bytes_written"] = r.bytes_written;
  write_report(o.report, j);
  return 0;
}

} // namespace

int run(int argc, const char* const* argv) {
  try {
    std::optional<cli::Options> options = cli::parse_options(argc, argv); // options
    if (!options)
      return 0;
    const cli::Options& o = *options;
    if (o.plan)
      return run_plan(o);
    if (!o.pack_to.empty())
      return run_pack_to(o);
    if (!o.install_from.empty())
      return run_install_from(o);
    return run_local_install(o);
  } catch (const Error& e) {
    std::fprintf(stderr, "distenv: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distenv: error: %s\n", e.what());
    return 1;
  }
}

} // namespace distenv
