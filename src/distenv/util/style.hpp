#pragma once

#include <string>

namespace distenv {

// Whether what this process writes to `fd` reaches a person's terminal: the
// fd is one, or this process was started by mpirun (Open MPI's orterun,
// mpiexec, prterun) on this machine and mpirun writes that stream to one.
// mpirun hands its local ranks a pipe for stderr (a pty for stdout, whatever
// mpirun's own stdout is) and forwards what they write unchanged, redraws
// included, so a rank cannot tell from its own fd.
bool reaches_terminal(int fd);
// The mpirun half of it, from `proc` (a /proc) for the process `parent`.
bool launcher_writes_to_terminal(int fd, long parent, const std::string& proc = "/proc");

// How distenv's own lines look on stderr: "distenv: error: " in red and
// "distenv: warning: " in yellow when colour is on. Colour is on for
// --color=always, off for never, and for auto only when stderr reaches a
// terminal (above) and NO_COLOR is unset (https://no-color.org). Decided
// once, at start-up.
enum class ColorMode { auto_, always, never };
void set_color(ColorMode mode);
bool color_enabled();

std::string error_prefix();   // "distenv: error: "
std::string warning_prefix(); // "distenv: warning: "

} // namespace distenv
