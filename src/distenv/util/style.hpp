#pragma once

#include <string>

namespace distenv {

// How distenv's own lines look on stderr: "distenv: error: " in red and
// "distenv: warning: " in yellow when colour is on. Colour is on for
// --color=always, off for never, and for auto only when stderr is a terminal
// and NO_COLOR is unset (https://no-color.org). Decided once, at start-up.
enum class ColorMode { auto_, always, never };
void set_color(ColorMode mode);
bool color_enabled();

std::string error_prefix();   // "distenv: error: "
std::string warning_prefix(); // "distenv: warning: "

} // namespace distenv
