// Rank 0's progress line while the environment travels.
#include <distenv/report/progress.hpp>

#include <distenv/util/style.hpp>
#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <unistd.h>

namespace distenv::report {

Progress::Style Progress::style_for(std::FILE* out, bool quiet) {
  if (quiet)
    return Style::quiet;
  return reaches_terminal(::fileno(out)) ? Style::live : Style::lines;
}

Progress::Progress(std::FILE* out, Style style, std::string what, uint64_t total_bytes, int machines,
                   std::chrono::milliseconds log_interval)
    : m_out(out), m_style(style), m_what(std::move(what)), m_total(total_bytes), m_machines(machines),
      m_log_interval(log_interval) {}

// Not finished: the job failed on the way; the line ends, claiming nothing.
Progress::~Progress() {
  end(false, "");
}

void Progress::finish(const std::string& summary) {
  end(true, summary);
}

namespace {

// How far along, in tenths: 0-10 while the bytes travel, then 10 + the
// tenths of the machines that have installed (20 when all have).
int tenths(uint64_t done, uint64_t total, int installed, int machines) {
  const int bytes = total ? static_cast<int>(std::min<uint64_t>(done * 10 / total, 10)) : 10;
  if (bytes < 10 || machines <= 0)
    return bytes;
  return 10 + std::min(installed * 10 / machines, 10);
}

} // namespace

bool Progress::log_line_due(int tenth, std::chrono::steady_clock::time_point now) const {
  return tenth > std::max(m_last_tenth, 0) && now - m_last_print >= m_log_interval;
}

void Progress::update(uint64_t done) {
  if (m_style == Style::quiet)
    return;
  std::lock_guard lock(m_mutex);
  if (m_finished)
    return;
  m_done = std::max(m_done, done);
  const auto now = std::chrono::steady_clock::now();
  const int tenth = tenths(m_done, m_total, m_installed, m_machines);
  if (m_style == Style::live) {
    if (m_drawn && now - m_last_print < std::chrono::milliseconds(100))
      return;
  } else if (!log_line_due(tenth, now)) {
    return; // a line per 10%, at most one per 2 s
  }
  m_last_print = now;
  m_last_tenth = tenth;
  print(false);
}

void Progress::installed() {
  if (m_style == Style::quiet)
    return;
  std::lock_guard lock(m_mutex);
  if (m_finished)
    return;
  ++m_installed;
  const auto now = std::chrono::steady_clock::now();
  const int tenth = tenths(m_done, m_total, m_installed, m_machines);
  // A terminal sees every machine arrive; a log a line per tenth of them.
  if (m_style == Style::lines && !log_line_due(tenth, now))
    return;
  m_last_print = now;
  m_last_tenth = tenth;
  print(false);
}

void Progress::print(bool last) {
  const uint64_t done = m_done;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  const double rate = seconds > 0.5 ? done / seconds : 0; // no rate from the first blocks
  const unsigned percent =
      m_total ? static_cast<unsigned>(std::min<uint64_t>(done * 100 / m_total, 100)) : 100;
  std::string line =
      fmt::format("distenv: {} {:3}%  {} of {}", m_what, percent, human_bytes(done), human_bytes(m_total));
  if (rate > 0)
    line += fmt::format("  {}/s", human_bytes(static_cast<uint64_t>(rate)));
  if (!last && rate > 0 && done < m_total)
    line += fmt::format("  {:.0f} s left", (m_total - done) / rate);
  if (m_machines > 0)
    line += fmt::format("  installed on {} of {}", m_installed, m_machines);
  if (m_style == Style::live) {
    std::fprintf(m_out, "\r%s\x1b[K", line.c_str());
    m_drawn = true;
  } else {
    std::fprintf(m_out, "%s\n", line.c_str());
  }
  std::fflush(m_out);
}

void Progress::end(bool finished, const std::string& summary) {
  if (m_style == Style::quiet)
    return;
  std::lock_guard lock(m_mutex);
  if (m_finished)
    return;
  m_finished = true;
  // A log that showed progress shows the end too, when there is one.
  if (finished && summary.empty() && m_style == Style::lines && m_last_tenth >= 0 &&
      m_last_tenth < tenths(m_total, m_total, m_installed, m_machines)) {
    m_done = m_total;
    print(true);
  }
  const std::string last = finished && !summary.empty() ? summary + "\n" : "";
  if (m_style == Style::live && m_drawn)
    std::fprintf(m_out, "\r\x1b[K%s", last.c_str());
  else
    std::fprintf(m_out, "%s", last.c_str());
  std::fflush(m_out);
}

} // namespace distenv::report
