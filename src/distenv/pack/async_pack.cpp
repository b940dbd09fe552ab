// A packer running on its own thread.
#include <distenv/pack/async_pack.hpp>

#include <distenv/util/error.hpp>

namespace distenv::pack {

AsyncPack::AsyncPack(const layout::Tree& tree, const PackOptions& options, size_t depth) : m_pipe(depth) {
  PackOptions mine = options;
  if (mine.adapt && !mine.pressure) // the pipe to the network tells which side is slower
    mine.pressure = [this] { return m_pipe.waits(); };
  m_thread = std::thread([this, &tree, mine] {
    try {
      m_stats = pack_tree(tree, m_pipe, mine);
    } catch (...) {
      m_failure = std::current_exception();
      m_pipe.fail(m_failure);
    }
  });
}

AsyncPack::~AsyncPack() {
  if (m_thread.joinable()) {
    m_pipe.fail(std::make_exception_ptr(Error("packing abandoned")));
    m_thread.join();
  }
}

PackStats AsyncPack::finish() {
  m_thread.join();
  if (m_failure)
    std::rethrow_exception(m_failure);
  return m_stats;
}

} // namespace distenv::pack
