#pragma once

namespace distenv {

// The whole program: parse options, run the pipeline, print one error line
// and return the exit code (0 ok, 1 failure, 2 bad input).
int run(int argc, const char* const* argv);

} // namespace distenv
