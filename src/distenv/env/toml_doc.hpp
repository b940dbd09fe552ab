#pragma once

#include <distenv/util/files.hpp>

#include <toml++/toml.h>

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

} // namespace distenv::env
