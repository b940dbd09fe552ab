#pragma once

#include <distenv/pack/chunks.hpp>
#include <distenv/pack/pipe.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct ZSTD_CCtx_s;

namespace distenv::pack {

// zstd into a Chunker, at a level that may change as it goes: a change takes
// effect at a new frame (a stream of several frames decodes as one), the way
// `zstd --adapt` follows its output.
class ZstdWriter {
public:
  ZstdWriter(Chunker& out, int level, int threads);
  ~ZstdWriter();
  ZstdWriter(const ZstdWriter&) = delete;
  ZstdWriter& operator=(const ZstdWriter&) = delete;

  void write(const void* data, size_t size);
  // From the next frame, which starts now (the current one is ended).
  void set_level(int level, int threads);
  void finish();

  int level() const { return m_level; }
  int threads() const { return m_threads; }
  uint64_t bytes_in() const { return m_in; }

private:
  void end_frame();
  void drain(const void* data, size_t size, int mode);

  Chunker& m_out;
  ZSTD_CCtx_s* m_cctx;
  std::vector<char> m_buffer;
  int m_level, m_threads;
  bool m_open = false; // a frame is started
  uint64_t m_in = 0;
};

// Which level the next part of a stream gets, from how long each side of
// the pipe after the packer waited since the last look: the network waiting
// for the packer means packing is the slower stage (a lower, faster level);
// the packer waiting for the network means there is time to compress more.
// Between `lowest` and `highest`; threads are added (up to `cores` - 1, at
// most 4) only when the lowest level still keeps the network waiting.
class LevelControl {
public:
  LevelControl(int level, int lowest, int highest, unsigned cores)
      : m_level(level), m_lowest(lowest), m_highest(highest), m_cores(cores) {}

  // Looks at the cumulative waits; true when the level or threads changed.
  bool look(const ChunkPipe::Waits& total);
  int level() const { return m_level; }
  int threads() const { return m_threads; }
  // "3", or "3 -> 2 -> 1" when it changed.
  const std::string& history() const { return m_history; }

private:
  int m_level, m_lowest, m_highest;
  unsigned m_cores;
  int m_threads = 0;
  ChunkPipe::Waits m_seen;
  std::string m_history = std::to_string(m_level);
};

} // namespace distenv::pack
