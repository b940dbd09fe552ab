// Bounded producer/consumer queue of chunks.
#include <distenv/pack/pipe.hpp>

namespace distenv::pack {

ChunkPipe::ChunkPipe(size_t depth) : m_depth(depth == 0 ? 1 : depth) {}

void ChunkPipe::put(Bytes chunk) {
  std::unique_lock lock(m_mutex);
  m_changed.wait(lock, [&] { return m_queue.size() < m_depth || m_error; });
  if (m_error)
    std::rethrow_exception(m_error);
  m_queue.emplace_back(chunk.begin(), chunk.end());
  m_changed.notify_all();
}

void ChunkPipe::close() {
  std::lock_guard lock(m_mutex);
  m_closed = true;
  m_changed.notify_all();
}

Bytes ChunkPipe::next() {
  std::unique_lock lock(m_mutex);
  m_changed.wait(lock, [&] { return !m_queue.empty() || m_closed || m_error; });
  if (m_error)
    std::rethrow_exception(m_error);
  if (m_queue.empty())
    return {};
  m_current = std::move(m_queue.front());
  m_queue.pop_front();
  m_changed.notify_all();
  return Bytes(m_current.data(), m_current.size());
}

void ChunkPipe::fail(std::exception_ptr error) {
  std::lock_guard lock(m_mutex);
  if (!m_error)
    m_error = error;
  m_changed.notify_all();
}

} // namespace distenv::pack
