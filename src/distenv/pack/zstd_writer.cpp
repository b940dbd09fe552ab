// zstd with a level that follows the slower side of the stream.
#include <distenv/pack/zstd_writer.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>
#include <zstd.h>

#include <algorithm>

namespace distenv::pack {

namespace {

void check(size_t rc, const char* what) {
  if (ZSTD_isError(rc))
    throw Error(fmt::format("packing: zstd {}: {}", what, ZSTD_getErrorName(rc)));
}

// Waits shorter than this between two looks are noise (a chunk's hand-over).
constexpr double k_margin = 0.02;
// A compression thread's job (zstd's least is 512 KiB).
constexpr int k_job_bytes = 512 << 10;

} // namespace

ZstdWriter::ZstdWriter(Chunker& out, int level, int threads)
    : m_out(out), m_cctx(ZSTD_createCCtx()), m_buffer(ZSTD_CStreamOutSize()), m_level(level),
      m_threads(threads) {
  if (!m_cctx)
    throw Error("packing: zstd: out of memory");
}

ZstdWriter::~ZstdWriter() {
  ZSTD_freeCCtx(m_cctx);
}

void ZstdWriter::drain(const void* data, size_t size, int mode) {
  ZSTD_inBuffer in{data, size, 0};
  for (;;) {
    ZSTD_outBuffer out{m_buffer.data(), m_buffer.size(), 0};
    const size_t left = ZSTD_compressStream2(m_cctx, &out, &in, static_cast<ZSTD_EndDirective>(mode));
    check(left, "compress");
    if (out.pos)
      m_out.write(m_buffer.data(), out.pos);
    const bool done = mode == ZSTD_e_continue ? in.pos == in.size : left == 0;
    if (done)
      return;
  }
}

void ZstdWriter::write(const void* data, size_t size) {
  if (!m_open) {
    check(ZSTD_CCtx_reset(m_cctx, ZSTD_reset_session_only), "reset");
    check(ZSTD_CCtx_setParameter(m_cctx, ZSTD_c_compressionLevel, m_level), "level");
    // Without multithreading support in libzstd, one thread. Each thread
    // holds a few jobs in memory: small jobs keep that to a few MiB.
    if (m_threads > 0 && !ZSTD_isError(ZSTD_CCtx_setParameter(m_cctx, ZSTD_c_nbWorkers, m_threads)))
      ZSTD_CCtx_setParameter(m_cctx, ZSTD_c_jobSize, k_job_bytes);
    m_open = true;
  }
  drain(data, size, ZSTD_e_continue);
  m_in += size;
}

void ZstdWriter::end_frame() {
  if (m_open)
    drain(nullptr, 0, ZSTD_e_end);
  m_open = false;
}

void ZstdWriter::set_level(int level, int threads) {
  end_frame();
  m_level = level;
  m_threads = threads;
}

void ZstdWriter::finish() {
  if (!m_open && m_in == 0)
    write(nullptr, 0); // an empty stream is still one frame
  end_frame();
}

bool LevelControl::look(const ChunkPipe::Waits& total) {
  const double network = total.consumer - m_seen.consumer; // waited for packing
  const double packing = total.producer - m_seen.producer; // waited for the network
  m_seen = total;
  const int level = m_level, threads = m_threads;
  if (network > packing + k_margin) {
    if (m_level > m_lowest)
      --m_level;
    else if (m_cores > 1 && m_threads < std::min<int>(4, static_cast<int>(m_cores) - 1))
      ++m_threads;
  } else if (packing > network + k_margin) {
    if (m_threads > 0)
      --m_threads;
    else if (m_level < m_highest)
      ++m_level;
  }
  if (level == m_level && threads == m_threads)
    return false;
  m_history +=
      fmt::format(" -> {}{}", m_level,
                  m_threads ? fmt::format(" ({} thread{})", m_threads, m_threads == 1 ? "" : "s") : "");
  return true;
}

} // namespace distenv::pack
