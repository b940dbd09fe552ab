// .distenvignore / distenv.toml `exclude` patterns with gitignore semantics.
#include <distenv/env/ignore.hpp>

#include <distenv/util/glob.hpp>

namespace distenv::env {

void IgnoreRules::add(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  // Trailing spaces are ignored unless escaped, as in git.
  while (!line.empty() && line.back() == ' ' &&
         !(line.size() >= 2 && line[line.size() - 2] == '\\'))
    line.remove_suffix(1);
  if (line.empty() || line.front() == '#')
    return;
  Rule rule;
  if (line.front() == '!') {
    rule.negate = true;
    line.remove_prefix(1);
  } else if (line.front() == '\\') {
    line.remove_prefix(1); // "\#name" / "\!name"
  }
  if (!line.empty() && line.back() == '/') {
    rule.dir_only = true;
    line.remove_suffix(1);
  }
  if (line.empty())
    return;
  if (line.front() == '/') {
    rule.anchored = true;
    line.remove_prefix(1);
  } else if (line.find('/') != std::string_view::npos) {
    rule.anchored = true;
  }
  rule.pattern = std::string(line);
  m_rules.push_back(std::move(rule));
}

void IgnoreRules::add_lines(std::string_view text) {
  while (!text.empty()) {
    size_t eol = text.find('\n');
    add(text.substr(0, eol));
    if (eol == std::string_view::npos)
      break;
    text.remove_prefix(eol + 1);
  }
}

bool IgnoreRules::ignored(std::string_view path, bool is_dir) const {
  std::string_view name = path;
  if (size_t slash = path.rfind('/'); slash != std::string_view::npos)
    name = path.substr(slash + 1);
  bool result = false;
  for (const Rule& rule : m_rules) {
    if (rule.dir_only && !is_dir)
      continue;
    if (result == !rule.negate)
      continue; // cannot change the outcome
    bool hit = rule.anchored ? glob_match(rule.pattern, path) : glob_match(rule.pattern, name);
    if (hit)
      result = !rule.negate;
  }
  return result;
}

} // namespace distenv::env
