#pragma once

#include <distenv/install/store.hpp>
#include <distenv/pack/pipe.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <thread>

namespace distenv::install {

// Installs a stream on a thread of its own while the caller feeds it chunks
// (from the network): sink() takes the chunks, finish() waits for the install
// and rethrows what failed. If the store already has the environment, or the
// install fails early, the sink stops accepting (put throws) and the caller
// simply stops feeding it. Destroyed before finish(), it abandons the install
// (nothing is left in the store).
class AsyncInstall {
public:
  // `progress`, when given, is called on the install's thread with the stream
  // bytes taken so far; what it throws fails the install.
  AsyncInstall(Store& store, hash::Hash128 expected, uint64_t disk_bytes, size_t depth,
               std::function<void(uint64_t)> progress = {}, Objects* local = nullptr);
  // The same for any way of installing a stream (Store::assemble).
  using Install = std::function<Store::Result(pack::ChunkSource&)>;
  AsyncInstall(Install install, size_t depth, std::function<void(uint64_t)> progress = {});
  ~AsyncInstall();
  AsyncInstall(const AsyncInstall&) = delete;
  AsyncInstall& operator=(const AsyncInstall&) = delete;

  pack::ChunkSink& sink() { return m_pipe; }
  // The network waited on the install (producer), the install on the network (consumer).
  pack::ChunkPipe::Waits waits() { return m_pipe.waits(); }
  // The stream will not complete: stop waiting for it.
  void abort(std::exception_ptr why);
  Store::Result finish();

private:
  pack::ChunkPipe m_pipe;
  std::function<void(uint64_t)> m_progress;
  Store::Result m_result;
  std::exception_ptr m_failure;
  std::thread m_thread;
};

} // namespace distenv::install
