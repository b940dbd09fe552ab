#pragma once

#include <distenv/pack/archive_writer.hpp>
#include <distenv/pack/pipe.hpp>

#include <exception>
#include <thread>

namespace distenv::pack {

// Packs a tree on a thread of its own; source() yields its chunks as they are
// made (at most `depth` waiting). A packing error reaches the reader of
// source() as an exception; finish() returns the statistics.
class AsyncPack {
public:
  AsyncPack(const layout::Tree& tree, const PackOptions& options, size_t depth);
  ~AsyncPack();

  ChunkSource& source() { return m_pipe; }
  // The packer waited on the network (producer), the network on the packer (consumer).
  ChunkPipe::Waits waits() { return m_pipe.waits(); }
  PackStats finish();

private:
  ChunkPipe m_pipe;
  PackStats m_stats;
  std::exception_ptr m_failure;
  std::thread m_thread;
};

} // namespace distenv::pack
