#pragma once

#include <distenv/env/environment.hpp>

namespace distenv::env {

// The project file Julia would use in `dir` (JuliaProject.toml before
// Project.toml), or an empty path.
fs::path find_julia_project(const fs::path& dir);

// Manifest files of any name present in `dir` (to tell "a manifest without a
// project" from "nothing at all").
std::vector<fs::path> list_manifests(const fs::path& dir);

// Fills the Julia parts of `env` (project, manifest, dev packages and every
// path to rewrite) from the project file in env.project_dir.
void read_julia(Environment& env, const ReadOptions& options);

// Where a path in a message should point: relative to the project when inside it.
std::string display_path(const fs::path& path, const fs::path& project_dir);

} // namespace distenv::env
