#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace distenv {

// LEB128 unsigned integers: the compact binary forms (plan, content index).
inline void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// Reads one at `at` (advanced); std::out_of_range when the bytes end first.
inline uint64_t get_varint(std::string_view in, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= in.size())
      throw std::out_of_range("truncated number");
    const auto b = static_cast<unsigned char>(in[at++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80))
      return v;
  }
  throw std::out_of_range("number too long");
}

inline void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

inline uint64_t get_u64(std::string_view in, size_t& at) {
  if (in.size() - at < 8 || at > in.size())
    throw std::out_of_range("truncated number");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at++])) << (8 * i);
  return v;
}

} // namespace distenv
