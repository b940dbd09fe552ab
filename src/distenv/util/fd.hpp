#pragma once

#include <cerrno>
#include <cstddef>
#include <sys/types.h>
#include <utility>

namespace distenv {

// An owning file descriptor: closed when the object goes (ccache's
// util/fd.hpp). Move-only; -1 is "none".
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other)
      reset(std::exchange(other.m_fd, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives the descriptor up without closing it.
  int release() { return std::exchange(m_fd, -1); }
  // Closes what is held (errors ignored) and holds `fd`.
  void reset(int fd = -1);
  // Closes now, for callers that must know close(2) worked (written files:
  // NFS reports write errors there). False with errno set.
  bool close();

private:
  int m_fd = -1;
};

// A pipe's two ends (O_CLOEXEC). Throws Error when none can be made.
struct Pipe {
  Fd read, write;
  static Pipe make();
};

// write(2) until all `size` bytes are written, retrying on EINTR and short
// writes. False (errno set) when the descriptor refuses them.
bool write_fully(int fd, const void* data, size_t size);

// read(2) until `size` bytes or the end, retrying on EINTR. The number of
// bytes read (less than `size` only at the end), or -1 with errno set.
ssize_t read_fully(int fd, void* data, size_t size);

// Calls `f` again while it fails (a negative result) with EINTR: flock,
// waitpid, poll. Its last result.
template <typename F> auto retry_eintr(F&& f) {
  for (;;) {
    const auto r = f();
    if (r >= 0 || errno != EINTR)
      return r;
  }
}

// One read(2), retried on EINTR.
ssize_t read_some(int fd, void* data, size_t size);

} // namespace distenv
