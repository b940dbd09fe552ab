// An install running on its own thread, fed chunk by chunk.
#include <distenv/install/async_install.hpp>

#include <distenv/util/error.hpp>

namespace distenv::install {

namespace {

// Counts what the install takes from the pipe and reports it.
class Progress : public pack::ChunkSource {
public:
  Progress(pack::ChunkSource& in, const std::function<void(uint64_t)>& report) : m_in(in), m_report(report) {}
  pack::Bytes next() override {
    pack::Bytes chunk = m_in.next();
    m_bytes += chunk.size();
    if (m_report && !chunk.empty())
      m_report(m_bytes);
    return chunk;
  }

private:
  pack::ChunkSource& m_in;
  const std::function<void(uint64_t)>& m_report;
  uint64_t m_bytes = 0;
};

} // namespace

AsyncInstall::AsyncInstall(Store& store, hash::Hash128 expected, uint64_t disk_bytes, size_t depth,
                           std::function<void(uint64_t)> progress, Objects* local)
    : AsyncInstall(
          [&store, expected, disk_bytes, local](pack::ChunkSource& source) {
            return store.install(expected, disk_bytes, source, local);
          },
          depth, std::move(progress)) {}

AsyncInstall::AsyncInstall(Install install, size_t depth, std::function<void(uint64_t)> progress)
    : m_pipe(depth), m_progress(std::move(progress)) {
  m_thread = std::thread([this, install = std::move(install)] {
    try {
      Progress source(m_pipe, m_progress);
      m_result = install(source);
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

void AsyncInstall::abort(std::exception_ptr why) {
  m_pipe.fail(why);
}

Store::Result AsyncInstall::finish() {
  m_thread.join();
  if (m_failure)
    std::rethrow_exception(m_failure);
  return m_result;
}

} // namespace distenv::install
