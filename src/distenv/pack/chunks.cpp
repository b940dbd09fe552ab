// Fixed-size chunking, and a packed stream in a file.
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

FileChunkSource::FileChunkSource(const boost::filesystem::path& path, size_t chunk_size)
    : m_path(path), m_buffer(chunk_size) {
  if (chunk_size == 0)
    throw std::logic_error("a chunk size of 0");
  m_fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!m_fd)
    throw InputError(fmt::format("{}: {}", path.string(), errno_text(errno)));
  struct stat st {};
  if (::fstat(m_fd.get(), &st) == 0 && S_ISDIR(st.st_mode))
    throw InputError(fmt::format("{}: is a directory, not a packed environment", path.string()));
}

Bytes FileChunkSource::next() {
  const ssize_t n = read_fully(m_fd.get(), m_buffer.data(), m_buffer.size());
  if (n < 0)
    throw Error(fmt::format("{}: {}", m_path.string(), errno_text(errno)));
  return Bytes(m_buffer.data(), static_cast<size_t>(n));
}

} // namespace distenv::pack
