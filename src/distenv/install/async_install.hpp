#pragma once

#include <distenv/install/store.hpp>
#include <distenv/pack/pipe.hpp>

#include <exception>
#include <thread>

namespace distenv::install {

// Installs a stream on a thread of its own while the caller feeds it chunks
// (from the network): sink() takes the chunks, finish() waits for the install
// and rethrows what failed. If the store already has the environment, or the
// install fails early, the sink stops accepting (put throws) and the caller
// simply stops feeding it.
class AsyncInstall {
public:
  AsyncInstall(Store& store, hash::Hash128 expected, uint64_t disk_bytes, size_t depth);
  ~AsyncInstall();

  pack::ChunkSink& sink() { return m_pipe; }
  // The stream will not complete (the sender aborted): stop waiting for it.
  void abort(const std::string& why);
  Store::Result finish();

private:
  pack::ChunkPipe m_pipe;
  Store::Result m_result;
  std::exception_ptr m_failure;
  std::thread m_thread;
};

} // namespace distenv::install
