// Files and directory trees that appear whole or not at all.
#include <distenv/util/atomic_file.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv {

namespace {

std::string unique_suffix() {
  static thread_local std::mt19937_64 random(std::random_device{}());
  return fmt::format(".tmp-{}-{:08x}", ::getpid(), static_cast<uint32_t>(random()));
}

} // namespace

AtomicFile::AtomicFile(fs::path path, unsigned mode) : m_path(std::move(path)) {
  struct stat st {};
  if (::stat(m_path.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    m_direct = true;
    m_fd.reset(::open(m_path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!m_fd)
      throw Error(fmt::format("cannot write {}: {}", m_path.string(), errno_text(errno)));
    return;
  }
  for (int attempt = 0; attempt < 8 && !m_fd; ++attempt) {
    m_temp = m_path;
    m_temp += unique_suffix();
    m_fd.reset(::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!m_fd && errno != EEXIST)
      break;
  }
  if (!m_fd)
    throw Error(fmt::format("cannot write {}: {}", m_path.string(), errno_text(errno)));
}

AtomicFile::~AtomicFile() {
  if (!m_committed && !m_direct) {
    m_fd.reset();
    ::unlink(m_temp.c_str());
  }
}

void AtomicFile::write(std::string_view data) {
  write(data.data(), data.size());
}

void AtomicFile::write(const void* data, size_t size) {
  if (!write_fully(m_fd.get(), data, size))
    throw Error(fmt::format("cannot write {}: {}", m_path.string(), errno_text(errno)));
}

void AtomicFile::commit_as(const fs::path& path, Durability d) {
  if (m_direct) {
    if (!m_fd.close())
      throw Error(fmt::format("cannot write {}: {}", m_path.string(), errno_text(errno)));
    m_committed = true;
    return;
  }
  if (d == Durability::synced && ::fsync(m_fd.get()) != 0)
    throw Error(fmt::format("cannot write {}: fsync: {}", path.string(), errno_text(errno)));
  if (!m_fd.close())
    throw Error(fmt::format("cannot write {}: {}", path.string(), errno_text(errno)));
  if (::rename(m_temp.c_str(), path.c_str()) != 0)
    throw Error(fmt::format("cannot write {}: {}", path.string(), errno_text(errno)));
  m_committed = true;
}

} // namespace distenv
