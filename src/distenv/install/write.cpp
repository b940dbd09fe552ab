// Writing one entry of an environment: space, modes, new files, data.
#include <distenv/install/write.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::install {

void SpaceGuard::reserve(uint64_t bytes, const std::string& entry) {
  const uint64_t block = m_space.block;
  const uint64_t need = (bytes + block - 1) / block * block + block;
  m_since += need;
  if (m_since + m_margin <= m_space.available)
    return;
  read();
  m_since = need;
  if (m_since + m_margin > m_space.available)
    throw Error(fmt::format("not enough space in {}: entry '{}' needs {}, {} free (keeping {} free)",
                            m_dir.string(), entry, human_bytes(bytes),
                            human_bytes(m_space.available > need ? m_space.available : 0),
                            human_bytes(m_margin)));
}

void SpaceGuard::read() {
  m_space = space_at(m_dir);
  m_margin = std::min<uint64_t>(uint64_t(64) << 20, m_space.total / 100);
}

// umask(2) can only be read by setting it, which would race with threads
// creating files: /proc says, else 077 (the strictest).
mode_t current_umask() {
  static const mode_t mask = [] {
    std::FILE* f = std::fopen("/proc/self/status", "re");
    unsigned value = 077;
    if (f) {
      char line[256];
      while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "Umask: %o", &value) == 1)
          break;
      std::fclose(f);
    }
    return static_cast<mode_t>(value);
  }();
  return mask;
}

unsigned installed_mode(hash::EntryType type, unsigned mode) {
  switch (type) {
  case hash::EntryType::directory:
    return 0755;
  case hash::EntryType::symlink:
    return 0777;
  case hash::EntryType::file:
    break;
  }
  return mode & 0111 ? 0755 : 0644;
}

void cannot(const std::string& name, const char* what) {
  if (errno == ENOTDIR) // "f", then "f/x": a tree its hash could not describe
    throw InputError(fmt::format("received archive: entry '{}': lies below a file", name));
  throw Error(fmt::format("received archive: entry '{}': cannot {}: {}", name, what, errno_text(errno)));
}

// Only a umask that takes bits from the mode costs a chmod: each metadata
// change is a transaction on a journaling file system, and a delta install
// makes thousands.
Fd create_file(const std::string& path, const std::string& name, unsigned mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd)
    cannot(name, "create");
  if ((mode & current_umask()) != 0 && ::fchmod(fd.get(), mode) != 0)
    cannot(name, "set its mode");
  return fd;
}

void finish_file(Fd& fd, const std::string& name, time_t mtime) {
  const struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
  if (::futimens(fd.get(), times) != 0)
    cannot(name, "set its time");
  if (!fd.close())
    cannot(name, "write");
}

hash::Hash128 write_data(pack::ArchiveReader& in, int fd, const std::string& name, uint64_t declared) {
  hash::Hasher hasher;
  const void* block = nullptr;
  size_t size = 0;
  uint64_t written = 0;
  while (in.read_block(block, size)) {
    if (!write_fully(fd, block, size))
      cannot(name, "write");
    hasher.update(block, size);
    written += size;
  }
  if (written != declared)
    throw Error(
        fmt::format("received archive: entry '{}': {} bytes of data, {} declared", name, written, declared));
  return hasher.digest();
}

} // namespace distenv::install
