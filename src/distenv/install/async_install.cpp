// An install running on its own thread, fed chunk by chunk.
#include <distenv/install/async_install.hpp>

#include <distenv/util/error.hpp>

namespace distenv::install {

AsyncInstall::AsyncInstall(Store& store, hash::Hash128 expected, uint64_t disk_bytes, size_t depth)
    : m_pipe(depth) {
  m_thread = std::thread([this, &store, expected, disk_bytes] {
    try {
      m_result = store.install(expected, disk_bytes, m_pipe);
      if (m_result.reused) // nothing was read: release the feeder
        m_pipe.fail(std::make_exception_ptr(Error("already installed")));
    } catch (...) {
      m_failure = std::current_exception();
      m_pipe.fail(m_failure);
    }
  });
}

AsyncInstall::~AsyncInstall() {
  if (m_thread.joinable()) {
    m_pipe.fail(std::make_exception_ptr(Error("install abandoned")));
    m_thread.join();
  }
}

void AsyncInstall::abort(const std::string& why) { m_pipe.fail(std::make_exception_ptr(Error(why))); }

Store::Result AsyncInstall::finish() {
  m_thread.join();
  if (m_failure)
    std::rethrow_exception(m_failure);
  return m_result;
}

} // namespace distenv::install
