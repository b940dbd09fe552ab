// In-place rewriting of TOML string values (Manifest and [sources] paths).
#include <distenv/layout/rewrite.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace distenv::layout {

namespace {

size_t offset_of(std::string_view text, size_t line, size_t column) {
  size_t pos = 0;
  for (size_t l = 1; l < line; ++l) {
    pos = text.find('\n', pos);
    if (pos == std::string_view::npos)
      return std::string_view::npos;
    ++pos;
  }
  for (size_t c = 1; c < column && pos < text.size(); ++c) {
    ++pos; // past one code point: its first byte and its continuation bytes
    while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80)
      ++pos;
  }
  return pos;
}

// End (one past) of the string literal that starts at `begin`.
size_t literal_end(std::string_view text, size_t begin) {
  const char quote = text[begin];
  const bool triple = text.substr(begin, 3) == std::string(3, quote);
  size_t pos = begin + (triple ? 3 : 1);
  while (pos < text.size()) {
    if (quote == '"' && text[pos] == '\\') {
      pos += 2;
      continue;
    }
    if (text[pos] == quote) {
      if (!triple)
        return pos + 1;
      if (text.substr(pos, 3) == std::string(3, quote)) {
        pos += 3;
        while (pos < text.size() && text[pos] == quote) // """a"""" ends later
          ++pos;
        return pos;
      }
    }
    if (!triple && text[pos] == '\n')
      break;
    ++pos;
  }
  return std::string_view::npos;
}

} // namespace

std::string toml_quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        out += fmt::format("\\u{:04X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
      else
        out += c;
    }
  }
  return out + "\"";
}

std::string rewrite_strings(std::string_view text, std::vector<StringEdit> edits,
                            const std::string& display) {
  struct Span {
    size_t begin, end;
    std::string replacement;
  };
  std::vector<Span> spans;
  for (const StringEdit& e : edits) {
    size_t begin = offset_of(text, e.line, e.column);
    if (begin >= text.size() || (text[begin] != '"' && text[begin] != '\''))
      throw Error(fmt::format("{}:{}:{}: expected a string to rewrite", display, e.line, e.column));
    size_t end = literal_end(text, begin);
    if (end == std::string_view::npos)
      throw Error(fmt::format("{}:{}:{}: unterminated string", display, e.line, e.column));
    spans.push_back({begin, end, toml_quote(e.value)});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size() + 64 * spans.size());
  size_t pos = 0;
  for (const Span& s : spans) {
    if (s.begin < pos)
      continue; // the same literal twice
    out.append(text.substr(pos, s.begin - pos));
    out += s.replacement;
    pos = s.end;
  }
  out.append(text.substr(pos));
  return out;
}

} // namespace distenv::layout
