// mpirun's stderr, less Open MPI's banners about what distenv explained.
#include <distenv/launch/stderr_filter.hpp>

#include <algorithm>

namespace distenv::launch {

namespace {

constexpr std::string_view k_forwarding = "mpirun: Forwarding signal";
// The banners that only say a rank exited non-zero (Open MPI 4.1's wording).
constexpr std::string_view k_exit_banners[] = {"terminated normally, but",
                                               "exited with non-zero status, thus causing"};

bool is_rule(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.remove_suffix(1);
  return line.size() >= 20 && std::all_of(line.begin(), line.end(), [](char c) { return c == '-'; });
}

// Could the line started so far still be a rule or the forwarding line?
bool may_be_held(std::string_view start) {
  if (std::all_of(start.begin(), start.end(), [](char c) { return c == '-'; }))
    return true;
  return k_forwarding.substr(0, std::min(start.size(), k_forwarding.size())) ==
         start.substr(0, std::min(start.size(), k_forwarding.size()));
}

bool is_error_line(std::string_view head) {
  // "distenv: error: ", or coloured: "distenv: \x1b[1;31merror:\x1b[0m "
  return head.rfind("distenv: ", 0) == 0 && head.find("error:") != std::string_view::npos &&
         head.find("error:") < 24;
}

} // namespace

void StderrFilter::emit(std::string_view s) {
  if (!s.empty())
    m_out(s);
}

void StderrFilter::line_done() {
  const std::string line = std::move(m_pending);
  m_pending.clear();
  if (m_in_block) {
    m_block += line;
    if (!is_rule(line))
      return;
    m_in_block = false;
    const bool noise =
        m_explained && std::any_of(std::begin(k_exit_banners), std::end(k_exit_banners),
                                   [&](std::string_view b) { return m_block.find(b) != std::string::npos; });
    if (!noise)
      emit(m_block);
    m_block.clear();
    return;
  }
  if (is_rule(line)) {
    m_in_block = true;
    m_block = line;
    return;
  }
  if (line.rfind(k_forwarding, 0) == 0)
    return;
  if (is_error_line(line))
    m_explained = true;
  emit(line);
}

void StderrFilter::feed(std::string_view bytes) {
  size_t passed_from = 0; // bytes of a passing line not yet emitted
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (m_passing) {
      if (m_head.size() < 32)
        m_head += c;
      if (c == '\n') {
        emit(bytes.substr(passed_from, i + 1 - passed_from));
        m_passing = false;
        if (is_error_line(m_head))
          m_explained = true;
        m_head.clear();
      }
      continue;
    }
    m_pending += c;
    if (c == '\n') {
      line_done();
    } else if (!m_in_block && !may_be_held(m_pending)) {
      m_passing = true; // not ours to hold: on at once (a progress line)
      m_head = m_pending;
      emit(m_pending);
      m_pending.clear();
      passed_from = i + 1;
    }
  }
  if (m_passing)
    emit(bytes.substr(std::min(passed_from, bytes.size())));
}

void StderrFilter::finish() {
  emit(m_block);
  emit(m_pending);
  m_block.clear();
  m_pending.clear();
  m_in_block = false;
}

} // namespace distenv::launch
