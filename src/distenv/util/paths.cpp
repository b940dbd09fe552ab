// Path rules shared by the packer (plan time) and the extractor.
#include <distenv/util/paths.hpp>

namespace distenv {

std::string symlink_problem(const std::string& link_path, const std::string& target) {
  if (target.empty())
    return "empty symlink target";
  if (target.front() == '/')
    return "symlink to an absolute path";
  long depth = 0; // of the link's directory
  for (char c : link_path)
    depth += c == '/';
  bool descending = false;
  size_t start = 0;
  while (start <= target.size()) {
    size_t slash = target.find('/', start);
    if (slash == std::string::npos)
      slash = target.size();
    const std::string part = target.substr(start, slash - start);
    if (part == "..") {
      if (descending)
        return "symlink target has '..' after a name";
      if (--depth < 0)
        return "symlink points outside the install directory";
    } else if (!part.empty() && part != ".") {
      descending = true;
    }
    start = slash + 1;
  }
  return {};
}

} // namespace distenv
