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

void check_types(const TomlDoc& doc, const toml::table& table,
                 std::initializer_list<std::pair<std::string_view, TomlType>> keys) {
  for (const auto& [key, type] : keys) {
    const toml::node* node = table.get(key);
    if (!node)
      continue;
    const bool ok = type == TomlType::string  ? node->is_string()
                    : type == TomlType::table ? node->is_table()
                                              : node->is_table() || node->is_array();
    if (!ok)
      throw InputError(fmt::format("{}: {} must be {}", doc.where(*node), key,
                                   type == TomlType::string  ? "a string"
                                   : type == TomlType::table ? "a table"
                                                             : "a table or an array"));
  }
}

void check_project_types(const TomlDoc& doc) {
  check_types(doc, doc.table,
              {{"name", TomlType::string},
               {"uuid", TomlType::string},
               {"version", TomlType::string},
               {"manifest", TomlType::string},
               {"deps", TomlType::table},
               {"weakdeps", TomlType::table},
               {"extras", TomlType::table},
               {"sources", TomlType::table},
               {"compat", TomlType::table},
               {"workspace", TomlType::table}});
}

void check_manifest_entry_types(const TomlDoc& doc, const toml::table& entry) {
  check_types(doc, entry,
              {{"uuid", TomlType::string},
               {"version", TomlType::string},
               {"path", TomlType::string},
               {"git-tree-sha1", TomlType::string},
               {"repo-url", TomlType::string},
               {"deps", TomlType::table_or_array},
               {"weakdeps", TomlType::table_or_array}});
}

} // namespace distenv::env
