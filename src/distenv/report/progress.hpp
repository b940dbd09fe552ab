#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace distenv::report {

// What rank 0 shows on stderr while the environment travels. On a terminal
// one line that redraws itself (at most 10 times a second): phase,
// percentage, bytes, rate, time left, machines. In a batch log, plain lines,
// one per 10% at most every 2 s, so a log stays readable. Quiet: nothing.
// update() may be called from any thread.
class Progress {
public:
  enum class Style { live, lines, quiet };
  // `log_interval`: the least time between two lines of a log (and before the first).
  Progress(std::FILE* out, Style style, std::string what, uint64_t total_bytes,
           std::chrono::milliseconds log_interval = std::chrono::seconds(2));
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(uint64_t done_bytes);
  // The last line: `summary` replaces the live line (empty: just end it).
  void finish(const std::string& summary = "");

  // live on a terminal, lines elsewhere, quiet when asked for.
  static Style style_for(std::FILE* out, bool quiet);

private:
  void print(uint64_t done, bool last);

  std::FILE* m_out;
  const Style m_style;
  const std::string m_what;
  const uint64_t m_total;
  const std::chrono::milliseconds m_log_interval;
  const std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point m_last_print = m_start; // no line in the first 2 s
  int m_last_tenth = -1;
  bool m_drawn = false, m_finished = false;
  std::mutex m_mutex;
};

} // namespace distenv::report
