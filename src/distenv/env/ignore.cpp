// .distenvignore / distenv.toml `exclude` patterns with gitignore semantics.
#include <distenv/env/ignore.hpp>

#include <distenv/util/command.hpp>
#include <distenv/util/glob.hpp>

#include <fmt/format.h>

#include <sys/stat.h>

namespace distenv::env {

void IgnoreRules::add(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  // Trailing spaces are ignored unless escaped, as in git.
  while (!line.empty() && line.back() == ' ' && !(line.size() >= 2 && line[line.size() - 2] == '\\'))
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

bool IgnoreRules::covers(std::string_view path, bool is_dir) const {
  bool matched = ignored(path, is_dir);
  for (size_t slash = path.find('/'); !matched && slash != std::string_view::npos;
       slash = path.find('/', slash + 1))
    matched = ignored(path.substr(0, slash), true);
  return matched;
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

namespace {

bool inside_work_tree(const fs::path& root) {
  for (fs::path p = root; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::lstat((p / ".git").c_str(), &st) == 0)
      return true;
    if (p == p.parent_path())
      break;
  }
  return false;
}

} // namespace

std::optional<std::unordered_set<std::string>> git_ignored(const fs::path& root, std::string& warning) {
  if (!inside_work_tree(root))
    return std::nullopt;
  auto fail = [&](const CommandResult& r) {
    std::string why = r.started ? r.err.substr(0, r.err.find('\n')) : "git is not installed";
    if (why.rfind("fatal: ", 0) == 0)
      why.erase(0, 7);
    warning =
        fmt::format("{}: is in a git work tree, but .gitignore could not be applied ({}); everything in "
                    "it ships (--no-gitignore says that is what you want)",
                    root.string(), why.empty() ? fmt::format("git exited with {}", r.status) : why);
    return std::nullopt;
  };
  // A root its repository ignores (a dev package under an ignored dev/)
  // was named on purpose: it ships whole. (git check-ignore: 0 ignored,
  // 1 not ignored.)
  const CommandResult check = run_command({"git", "check-ignore", "-q", "."}, root);
  if (check.started && check.status == 0)
    return std::nullopt;
  if (!check.started || check.status != 1)
    return fail(check);
  const CommandResult r = run_command(
      {"git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"}, root);
  if (!r.started || r.status != 0)
    return fail(r);
  std::unordered_set<std::string> paths;
  for (size_t pos = 0; pos < r.out.size();) {
    size_t end = r.out.find('\0', pos);
    if (end == std::string::npos)
      end = r.out.size();
    std::string path = r.out.substr(pos, end - pos);
    pos = end + 1;
    if (path == "./" || path.rfind("../", 0) == 0)
      return std::nullopt;
    if (!path.empty())
      paths.insert(std::move(path));
  }
  return paths;
}

} // namespace distenv::env
