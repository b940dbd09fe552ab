// The owning file descriptor and the retrying read/write every module uses.
#include <distenv/util/fd.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace distenv {

void Fd::reset(int fd) {
  if (m_fd >= 0)
    ::close(m_fd);
  m_fd = fd;
}

bool Fd::close() {
  if (m_fd < 0)
    return true;
  // Linux releases the descriptor even when close fails (EINTR included):
  // never retry, that could close a descriptor another thread just got.
  return ::close(std::exchange(m_fd, -1)) == 0;
}

Pipe Pipe::make() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw Error(fmt::format("pipe: {}", errno_text(errno)));
  return {Fd(fds[0]), Fd(fds[1])};
}

bool write_fully(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

ssize_t read_some(int fd, void* data, size_t size) {
  return retry_eintr([&] { return ::read(fd, data, size); });
}

ssize_t read_fully(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = read_some(fd, p + done, size - done);
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

} // namespace distenv
