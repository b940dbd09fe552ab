#pragma once

#include <distenv/util/files.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace distenv::env {

// Which files of a root do not ship: gitignore syntax, one pattern per line.
//   '#' comments, blank lines, '!' re-includes, a trailing '/' matches only
//   directories, a pattern with a '/' before its end is anchored at the root,
//   otherwise it matches a name at any depth; '*', '?', '[...]', '**'.
// As with git, the last matching pattern wins, and a file inside an ignored
// directory cannot be re-included (the walk never enters that directory).
class IgnoreRules {
public:
  void add(std::string_view line);
  void add_lines(std::string_view text);
  // `other`'s rules after these (they win where both match).
  void add_rules(const IgnoreRules& other) {
    m_rules.insert(m_rules.end(), other.m_rules.begin(), other.m_rules.end());
  }

  // `path` is relative to the root, '/'-separated.
  bool ignored(std::string_view path, bool is_dir) const;
  // `path` or a directory above it is matched (the walk would not reach it).
  bool covers(std::string_view path, bool is_dir) const;
  bool empty() const { return m_rules.empty(); }

private:
  struct Rule {
    std::string pattern;
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;
  };
  std::vector<Rule> m_rules;
};

// What git leaves out below `root`, as git itself decides (.gitignore at
// every level, .git/info/exclude, core.excludesFile; tracked files are never
// ignored): root-relative paths of untracked files and directories its rules
// match, a directory with a trailing '/'. nullopt when `root` is not inside
// a git work tree, or is itself ignored by its repository (a directory the
// user named on purpose). When git is needed but cannot answer (not
// installed, refuses the repository), nullopt and `warning` says why.
std::optional<std::unordered_set<std::string>> git_ignored(const fs::path& root, std::string& warning);

} // namespace distenv::env
