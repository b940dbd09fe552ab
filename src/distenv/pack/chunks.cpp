// Fixed-size chunking and the simple chunk sinks/sources (memory, file).
#include <distenv/pack/chunks.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

namespace distenv::pack {

Chunker::Chunker(ChunkSink& sink, size_t chunk_size) : m_sink(sink), m_buffer(chunk_size) {
  if (chunk_size == 0)
    throw std::logic_error("a chunk size of 0");
}

void Chunker::write(const void* data, size_t size) {
  const auto* p = static_cast<const std::byte*>(data);
  m_bytes += size;
  while (size > 0) {
    size_t n = std::min(size, m_buffer.size() - m_used);
    std::memcpy(m_buffer.data() + m_used, p, n);
    m_used += n;
    p += n;
    size -= n;
    if (m_used == m_buffer.size()) {
      m_sink.put(Bytes(m_buffer.data(), m_used));
      m_used = 0;
    }
  }
}

void Chunker::finish() {
  if (m_used > 0)
    m_sink.put(Bytes(m_buffer.data(), m_used));
  m_used = 0;
  m_sink.close();
}

void MemoryChunks::put(Bytes chunk) { m_chunks.emplace_back(chunk.begin(), chunk.end()); }

Bytes MemoryChunks::next() {
  if (m_next >= m_chunks.size())
    return {};
  const auto& c = m_chunks[m_next++];
  return Bytes(c.data(), c.size());
}

FileChunkSink::FileChunkSink(const boost::filesystem::path& path) : m_path(path) {
  m_temp = path;
  m_temp += fmt::format(".tmp-{}", ::getpid());
  m_fd = ::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (m_fd < 0)
    throw Error(fmt::format("cannot write {}: {}", path.string(), errno_text(errno)));
}

FileChunkSink::~FileChunkSink() {
  if (m_fd >= 0) { // never closed: the stream did not end, nothing is left
    ::close(m_fd);
    ::unlink(m_temp.c_str());
  }
}

void FileChunkSink::put(Bytes chunk) {
  if (!write_fully(m_fd, chunk.data(), chunk.size()))
    throw Error(fmt::format("cannot write {}: {}", m_path.string(), errno_text(errno)));
}

void FileChunkSink::close() {
  if (m_fd < 0)
    return;
  int err = ::fsync(m_fd) != 0 ? errno : 0;
  if (::close(m_fd) != 0 && !err)
    err = errno;
  m_fd = -1;
  if (!err && ::rename(m_temp.c_str(), m_path.c_str()) != 0)
    err = errno;
  if (err) {
    ::unlink(m_temp.c_str());
    throw Error(fmt::format("cannot write {}: {}", m_path.string(), errno_text(err)));
  }
}

FileChunkSource::FileChunkSource(const boost::filesystem::path& path, size_t chunk_size)
    : m_path(path), m_buffer(chunk_size) {
  if (chunk_size == 0)
    throw std::logic_error("a chunk size of 0");
  m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (m_fd < 0)
    throw InputError(fmt::format("{}: {}", path.string(), errno_text(errno)));
  struct stat st {};
  if (::fstat(m_fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(m_fd);
    m_fd = -1;
    throw InputError(fmt::format("{}: is a directory, not a packed environment", path.string()));
  }
}

FileChunkSource::~FileChunkSource() {
  if (m_fd >= 0)
    ::close(m_fd);
}

Bytes FileChunkSource::next() {
  size_t used = 0;
  while (used < m_buffer.size()) {
    ssize_t n = ::read(m_fd, m_buffer.data() + used, m_buffer.size() - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(fmt::format("{}: {}", m_path.string(), errno_text(errno)));
    if (n == 0)
      break;
    used += static_cast<size_t>(n);
  }
  return Bytes(m_buffer.data(), used);
}

} // namespace distenv::pack
