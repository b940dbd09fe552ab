#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace distenv {

// "1.2 GiB", "300 MiB", "17 B": sizes as people read them in messages.
std::string human_bytes(uint64_t bytes);

} // namespace distenv

namespace distenv {

// "4M", "512KiB", "1g", "65536" -> bytes; nullopt when malformed.
std::optional<uint64_t> parse_size(std::string_view text);

} // namespace distenv

namespace distenv {

// Why `text` is not a finite number from `lo` to `hi` ("" when it is): what
// an option's check says of "nan", "inf", "-1" or "5s".
std::string number_problem(const std::string& text, double lo, double hi);

} // namespace distenv
