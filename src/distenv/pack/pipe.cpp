// Bounded producer/consumer queue of chunks.
#include <distenv/pack/pipe.hpp>

#include <chrono>

namespace distenv::pack {

ChunkPipe::ChunkPipe(size_t depth) : m_depth(depth == 0 ? 1 : depth) {}

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

void ChunkPipe::put(Bytes chunk) {
  std::unique_lock lock(m_mutex);
  if (m_queue.size() >= m_depth && !m_error) {
    const auto start = Clock::now();
    m_changed.wait(lock, [&] { return m_queue.size() < m_depth || m_error; });
    m_waits.producer += since(start);
  }
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
  if (m_queue.empty() && !m_closed && !m_error) {
    const auto start = Clock::now();
    m_changed.wait(lock, [&] { return !m_queue.empty() || m_closed || m_error; });
    m_waits.consumer += since(start);
  }
  if (m_error)
    std::rethrow_exception(m_error);
  if (m_queue.empty())
    return {};
  m_current = std::move(m_queue.front());
  m_queue.pop_front();
  m_changed.notify_all();
  return Bytes(m_current.data(), m_current.size());
}

ChunkPipe::Waits ChunkPipe::waits() {
  std::lock_guard lock(m_mutex);
  return m_waits;
}

void ChunkPipe::fail(std::exception_ptr error) {
  std::lock_guard lock(m_mutex);
  if (!m_error)
    m_error = error;
  m_changed.notify_all();
}

} // namespace distenv::pack
