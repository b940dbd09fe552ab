#pragma once

#include <distenv/util/files.hpp>

#include <toml++/toml.h>

#include <initializer_list>
#include <string>

namespace distenv::env {

// A parsed TOML file that remembers its text and the name errors show for it.
struct TomlDoc {
  fs::path path;       // absolute
  std::string display; // "Manifest.toml", "../dev/Foo/Project.toml", ...
  std::string text;
  toml::table table;

  // "Manifest.toml:12:5" for a node of this document.
  std::string where(const toml::node& node) const;
};

// Reads and parses; a syntax error becomes InputError "display:LINE:COL: what",
// an unreadable file InputError "path: OS error".
TomlDoc parse_toml_file(const fs::path& path, const std::string& display);

// What a key must hold, where it is there at all.
enum class TomlType { string, table, table_or_array };
// InputError "FILE:LINE:COL: KEY must be a string" (a table, ...) for the
// first key of `table` that is there with another type: what Pkg would
// refuse, or misread, later on another machine.
void check_types(const TomlDoc& doc, const toml::table& table,
                 std::initializer_list<std::pair<std::string_view, TomlType>> keys);

// The keys a Project.toml and a manifest entry are read for.
void check_project_types(const TomlDoc& doc);
void check_manifest_entry_types(const TomlDoc& doc, const toml::table& entry);

} // namespace distenv::env
