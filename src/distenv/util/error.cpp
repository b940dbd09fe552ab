// Error types and errno formatting shared by every stage.
#include <distenv/util/error.hpp>

#include <cctype>
#include <cstring>

namespace distenv {

std::string errno_text(int err) {
  std::string text = std::strerror(err);
  if (!text.empty())
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

} // namespace distenv
