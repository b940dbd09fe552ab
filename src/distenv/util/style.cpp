// Colour for distenv's own error and warning lines.
#include <distenv/util/style.hpp>

#include <atomic>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace distenv {

namespace {
std::atomic<bool> g_color{false};
}

bool launcher_writes_to_terminal(int fd, long parent, const std::string& proc) {
  auto link = [](const std::string& path) {
    char buffer[4096];
    const ssize_t n = ::readlink(path.c_str(), buffer, sizeof buffer - 1);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  };
  const std::string dir = proc + "/" + std::to_string(parent);
  const std::string exe = link(dir + "/exe");
  const std::string name = exe.substr(exe.find_last_of('/') + 1);
  if (name != "orterun" && name != "mpirun" && name != "mpiexec" && name != "prterun")
    return false;
  // distenv run reads mpirun's stderr (launch/mpirun.cpp) and says whether its own is a terminal.
  if (const char* t = std::getenv("DISTENV_STDERR_TERMINAL");
      t && std::string(t) == "1" && fd == STDERR_FILENO)
    return true;
  const std::string target = link(dir + "/fd/" + std::to_string(fd));
  return target.rfind("/dev/pts/", 0) == 0 || target.rfind("/dev/tty", 0) == 0;
}

bool reaches_terminal(int fd) {
  return ::isatty(fd) || launcher_writes_to_terminal(fd, ::getppid());
}

void set_color(ColorMode mode) {
  const char* no_color = std::getenv("NO_COLOR");
  g_color = mode == ColorMode::always ||
            (mode == ColorMode::auto_ && reaches_terminal(STDERR_FILENO) && !(no_color && *no_color));
}

bool color_enabled() {
  return g_color;
}

std::string error_prefix() {
  return g_color ? "distenv: \x1b[1;31merror:\x1b[0m " : "distenv: error: ";
}

std::string warning_prefix() {
  return g_color ? "distenv: \x1b[1;33mwarning:\x1b[0m " : "distenv: warning: ";
}

} // namespace distenv
