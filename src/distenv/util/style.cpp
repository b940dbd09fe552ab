// Colour for distenv's own error and warning lines.
#include <distenv/util/style.hpp>

#include <atomic>
#include <cstdlib>
#include <unistd.h>

namespace distenv {

namespace {
std::atomic<bool> g_color{false};
}

void set_color(ColorMode mode) {
  const char* no_color = std::getenv("NO_COLOR");
  g_color = mode == ColorMode::always ||
            (mode == ColorMode::auto_ && ::isatty(STDERR_FILENO) && !(no_color && *no_color));
}

bool color_enabled() { return g_color; }

std::string error_prefix() { return g_color ? "distenv: \x1b[1;31merror:\x1b[0m " : "distenv: error: "; }

std::string warning_prefix() { return g_color ? "distenv: \x1b[1;33mwarning:\x1b[0m " : "distenv: warning: "; }

} // namespace distenv
