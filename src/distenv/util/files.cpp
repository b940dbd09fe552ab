// Small file-system helpers: whole-file read/write, atomic replace, path tests.
#include <distenv/util/files.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace distenv {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

void write_all(int fd, const std::string& content, const fs::path& path) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(fmt::format("{}: cannot write: {}", path.string(), errno_text(errno)));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

} // namespace

std::string read_file(const fs::path& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0)
    throw Error(fmt::format("{}: {}", path.string(), errno_text(errno)));
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(fmt::format("{}: {}", path.string(), errno_text(errno)));
    if (n == 0)
      break;
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

void write_file(const fs::path& path, const std::string& content) {
  Fd f;
  f.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f.fd < 0)
    throw Error(fmt::format("{}: cannot create: {}", path.string(), errno_text(errno)));
  write_all(f.fd, content, path);
}

void write_file_atomic(const fs::path& path, const std::string& content) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp-{}", ::getpid());
  {
    Fd f;
    f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0)
      throw Error(fmt::format("{}: cannot create: {}", tmp.string(), errno_text(errno)));
    try {
      write_all(f.fd, content, tmp);
      if (::fsync(f.fd) != 0)
        throw Error(fmt::format("{}: fsync: {}", tmp.string(), errno_text(errno)));
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot rename {} to {}: {}", tmp.string(), path.string(),
                            errno_text(err)));
  }
}

std::string generic(const fs::path& path) { return path.generic_string(); }

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty() || *o == ".")
      continue; // trailing separator of "a/b/"
    if (i == inner.end() || *i != *o)
      return false;
  }
  return true;
}

std::string host_name() {
  struct utsname u {};
  if (::uname(&u) != 0)
    return "unknown-host";
  return u.nodename;
}

std::string machine_name() {
  const char* slurm = std::getenv("SLURMD_NODENAME");
  return slurm && *slurm ? slurm : host_name();
}

} // namespace distenv
