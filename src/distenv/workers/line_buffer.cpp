// Prefixing worker output line by line.
#include <distenv/workers/line_buffer.hpp>

namespace distenv::workers {

std::string LineBuffer::feed(std::string_view data) {
  std::string out;
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    const size_t room = m_max - m_partial.size();
    if (nl == std::string_view::npos && data.size() < room) {
      m_partial.append(data);
      break;
    }
    const size_t take = nl == std::string_view::npos || nl >= room ? room : nl + 1;
    m_partial.append(data.substr(0, take));
    data.remove_prefix(take);
    if (m_partial.back() != '\n')
      m_partial += '\n';
    out += m_prefix;
    out += m_partial;
    m_partial.clear();
  }
  return out;
}

std::string LineBuffer::flush() {
  if (m_partial.empty())
    return {};
  std::string out = m_prefix + m_partial + "\n";
  m_partial.clear();
  return out;
}

} // namespace distenv::workers
