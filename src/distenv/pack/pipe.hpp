#pragma once

#include <distenv/pack/chunks.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>

namespace distenv::pack {

// A bounded, thread-safe chunk queue between a producer (packer, network
// receiver) and a consumer (extractor). At most `depth` chunks wait in it,
// so memory is depth x chunk size whatever the stream's length. Either side
// can fail(): the other side then gets the exception instead of a hang.
class ChunkPipe : public ChunkSink, public ChunkSource {
public:
  explicit ChunkPipe(size_t depth);

  void put(Bytes chunk) override; // blocks while full
  void close() override;          // end of stream
  Bytes next() override;          // blocks while empty
  void fail(std::exception_ptr error);

  // Seconds each side spent blocked: the producer on a full pipe (the
  // consumer was slower), the consumer on an empty one (the producer was).
  struct Waits {
    double producer = 0, consumer = 0;
  };
  Waits waits();

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<std::vector<std::byte>> m_queue;
  std::vector<std::byte> m_current; // what next() returned last
  size_t m_depth;
  bool m_closed = false;
  std::exception_ptr m_error;
  Waits m_waits;
};

} // namespace distenv::pack
