// Parsing TOML files with errors that point at file, line and column.
#include <distenv/env/toml_doc.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

#include <cctype>

namespace distenv::env {

std::string TomlDoc::where(const toml::node& node) const {
  const auto& begin = node.source().begin;
  return fmt::format("{}:{}:{}", display, begin.line, begin.column);
}

TomlDoc parse_toml_file(const fs::path& path, const std::string& display) {
  TomlDoc doc;
  doc.path = path;
  doc.display = display;
  try {
    doc.text = read_file(path);
  } catch (const Error& e) {
    throw InputError(e.what());
  }
  try {
    doc.table = toml::parse(std::string_view(doc.text), std::string_view(display));
  } catch (const toml::parse_error& e) {
    std::string what(e.description());
    // toml++ says "Error while parsing key-value pair: expected value"; our
    // messages start lowercase after the location.
    if (!what.empty())
      what[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(what[0])));
    throw InputError(
        fmt::format("{}:{}:{}: {}", display, e.source().begin.line, e.source().begin.column, what));
  }
  return doc;
}

} // namespace distenv::env
