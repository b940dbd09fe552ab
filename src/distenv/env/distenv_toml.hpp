#pragma once

#include <distenv/env/environment.hpp>

namespace distenv::env {

// Reads `distenv.toml` (schema in README.md) into `env`: extra roots, exclude
// patterns, activation variables, runtime, default command, once-per-machine
// commands. Unknown keys and wrong types are InputErrors with file:line:col.
void read_distenv_toml(Environment& env, const fs::path& file);

} // namespace distenv::env
