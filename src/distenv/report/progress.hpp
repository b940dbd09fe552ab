#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace distenv::report {

// What rank 0 shows on stderr while the environment travels. On a terminal
// one line that redraws itself (at most 10 times a second): phase,
// percentage, bytes, rate, time left, machines installed. In a batch log,
// plain lines, one per 10% (of the bytes, then of the machines) at most every
// 2 s, so a log stays readable. Quiet: nothing. update() and installed() may
// be called from any thread.
class Progress {
public:
  enum class Style { live, lines, quiet };
  // `machines`: how many machines install what is sent (0: not shown).
  // `log_interval`: the least time between two lines of a log (and before the first).
  Progress(std::FILE* out, Style style, std::string what, uint64_t total_bytes, int machines = 0,
           std::chrono::milliseconds log_interval = std::chrono::seconds(2));
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(uint64_t done_bytes);
  // One more machine has the environment in place.
  void installed();
  // The last line: `summary` replaces the live line (empty: just end it; a
  // log that showed progress gets its end). Not called (a failure): the
  // live line is cleared, a log gets nothing more.
  void finish(const std::string& summary = "");

  // live when `out` reaches a terminal (through mpirun too: util/style's
  // reaches_terminal), lines elsewhere, quiet when asked for.
  static Style style_for(std::FILE* out, bool quiet);

private:
  // Whether a log gets a line now (the lock is held).
  bool log_line_due(int tenth, std::chrono::steady_clock::time_point now) const;
  void print(bool last);
  // The end of the line: `finished` (finish()) or not (the destructor).
  void end(bool finished, const std::string& summary);

  std::FILE* m_out;
  const Style m_style;
  const std::string m_what;
  const uint64_t m_total;
  const int m_machines;
  const std::chrono::milliseconds m_log_interval;
  const std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point m_last_print = m_start; // no line in the first 2 s
  uint64_t m_done = 0;
  int m_installed = 0;
  int m_last_tenth = -1; // of the bytes, then 10 + of the machines: the last a log was given
  bool m_drawn = false, m_finished = false;
  std::mutex m_mutex;
};

} // namespace distenv::report
