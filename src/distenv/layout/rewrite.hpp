#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace distenv::layout {

// Replace one TOML string literal, found at a 1-based line and column (as
// toml++ reports them, in code points), with a new value.
struct StringEdit {
  size_t line = 0;
  size_t column = 0;
  std::string value;
};

// Applies the edits to `text` and leaves every other byte as it was: comments,
// key order, unknown tables and keys of newer manifest formats survive.
// Throws Error "display:LINE:COL: ..." if an edit does not point at a string.
std::string rewrite_strings(std::string_view text, std::vector<StringEdit> edits, const std::string& display);

// `value` as a TOML basic string, with the escapes TOML requires.
std::string toml_quote(std::string_view value);

} // namespace distenv::layout
