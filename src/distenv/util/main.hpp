#pragma once

#include <functional>

namespace distenv {

// The one top-level handler of distenv's programs: runs `body` and returns
// its exit code; an Error (util/error.hpp) is printed as one line,
// "distenv: error: <what>", and gives its own exit code; any other exception
// is printed the same way and gives 1.
int handle_errors(const std::function<int()>& body);

} // namespace distenv
