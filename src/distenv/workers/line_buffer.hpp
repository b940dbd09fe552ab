#pragma once

#include <string>
#include <string_view>

namespace distenv::workers {

// Turns a process's output, read in arbitrary pieces, into whole lines that
// start with a prefix ("[node2:5] "). A line is only ever emitted complete,
// so two workers' partial lines never interleave. A line longer than
// `max_line` is cut there.
class LineBuffer {
public:
  explicit LineBuffer(std::string prefix, size_t max_line = 64 << 10)
      : m_prefix(std::move(prefix)), m_max(max_line) {}

  // Complete, prefixed lines found so far (possibly empty).
  std::string feed(std::string_view data);
  // Whatever is left as a last line (with a newline added), or "".
  std::string flush();

private:
  std::string m_prefix;
  std::string m_partial;
  size_t m_max;
};

} // namespace distenv::workers
