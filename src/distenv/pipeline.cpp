// Rank 0's reading of the environment, shared by every mode.
#include <distenv/pipeline.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

namespace distenv {

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

} // namespace distenv
