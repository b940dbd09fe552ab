// Human-readable sizes for messages and summaries.
#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace distenv {

std::string human_bytes(uint64_t bytes) {
  static const char* const k_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024)
    return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(k_units)) {
    value /= 1024.0;
    ++unit;
  }
  return value < 10.0 ? fmt::format("{:.1f} {}", value, k_units[unit])
                      : fmt::format("{:.0f} {}", value, k_units[unit]);
}

} // namespace distenv

namespace distenv {

std::optional<uint64_t> parse_size(std::string_view text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0)
    return std::nullopt;
  std::string unit(text.substr(i));
  for (char& c : unit)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.back() == 'b'))
    unit.pop_back(); // "kib" -> "ki", "mb" -> "m"
  if (unit.size() > 1 && unit.back() == 'i')
    unit.pop_back();
  static const std::string k_units = "kmgt";
  if (unit.empty() || unit == "b")
    return value;
  if (unit.size() != 1 || k_units.find(unit[0]) == std::string::npos)
    return std::nullopt;
  return value << (10 * (k_units.find(unit[0]) + 1));
}

} // namespace distenv

namespace distenv {

std::string number_problem(const std::string& text, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v) || v < lo ||
      v > hi)
    return fmt::format("expected a number from {:g} to {:g}, got '{}'", lo, hi, text);
  return {};
}

} // namespace distenv
