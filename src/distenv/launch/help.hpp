#pragma once

#include <distenv/launch/launcher.hpp>

#include <string>

namespace distenv::launch {

// `distenv --help` (for = help): every subcommand, the launch options and
// the bootstrap's; `distenv SUB --help`: that subcommand's usage and what
// it takes (the launch and bootstrap options for run, status and gc).
void print_help(Subcommand for_, const std::string& bootstrap);

} // namespace distenv::launch
