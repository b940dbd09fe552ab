#pragma once

#include <string>
#include <utility>
#include <vector>

namespace distenv::layout {

// .distenv/environment.json: how every machine activates an installed tree.
// Written by rank 0 into the tree (so it is part of the tree hash), read back
// by each machine after install.
struct Metadata {
  std::string kind;                                     // "julia" / "generic"
  std::string project;                                  // install-relative project directory
  std::string project_file;                             // install-relative, or ""
  std::string manifest;                                 // install-relative, or ""
  std::vector<std::pair<std::string, std::string>> env; // {root}/{project} placeholders
  std::string runtime;
  std::string runtime_hint;
  std::vector<std::string> command;
  std::vector<std::string> each_machine;
  std::vector<std::string> mutable_files; // distenv.toml `mutable` patterns
  struct Dev {
    std::string name, uuid, path;
  };
  std::vector<Dev> dev_packages;
};

std::string to_json(const Metadata& m);
// Throws Error "<what>: malformed environment metadata: ..." on bad input.
Metadata metadata_from_json(const std::string& text, const std::string& what);

} // namespace distenv::layout
