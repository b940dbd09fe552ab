// Wildcard matching with gitignore's '**' rules (fnmatch has no '**').
#include <distenv/util/glob.hpp>

#include <algorithm>

namespace distenv {

namespace {

using It = const char*;

// Matches one bracket expression at p (just after '['); sets `end` to the
// character after ']'. Returns false in `valid` when there is no closing ']'.
bool match_class(It p, It pe, char c, It& end, bool& valid) {
  bool negate = false;
  if (p < pe && (*p == '!' || *p == '^')) {
    negate = true;
    ++p;
  }
  bool matched = false;
  bool first = true;
  while (p < pe && (*p != ']' || first)) {
    first = false;
    char lo = *p;
    if (lo == '\\' && p + 1 < pe)
      lo = *++p;
    char hi = lo;
    if (p + 2 < pe && p[1] == '-' && p[2] != ']') {
      hi = p[2];
      if (hi == '\\' && p + 3 < pe) {
        hi = p[3];
        ++p;
      }
      p += 2;
    }
    if (lo <= c && c <= hi)
      matched = true;
    ++p;
  }
  valid = p < pe;
  end = valid ? p + 1 : pe;
  return matched != negate;
}

bool match(It p, It pe, It t, It te) {
  while (p < pe) {
    char c = *p;
    if (c == '*') {
      if (p + 1 < pe && p[1] == '*') {
        It rest = p + 2;
        if (rest < pe && *rest == '/') { // "**/": zero or more whole directories
          if (match(rest + 1, pe, t, te))
            return true;
          for (It s = t; s < te; ++s)
            if (*s == '/' && match(rest + 1, pe, s + 1, te))
              return true;
          return false;
        }
        for (It s = t; s <= te; ++s)
          if (match(rest, pe, s, te))
            return true;
        return false;
      }
      ++p;
      for (It s = t;; ++s) {
        if (match(p, pe, s, te))
          return true;
        if (s == te || *s == '/')
          return false;
      }
    }
    if (t == te)
      return false;
    if (c == '?') {
      if (*t == '/')
        return false;
      ++p;
      ++t;
      continue;
    }
    if (c == '[') {
      It end;
      bool valid;
      bool ok = match_class(p + 1, pe, *t, end, valid);
      if (valid) {
        if (!ok || *t == '/')
          return false;
        p = end;
        ++t;
        continue;
      }
      // no closing ']': a literal '['
    }
    if (c == '\\' && p + 1 < pe)
      c = *++p;
    if (c != *t)
      return false;
    ++p;
    ++t;
  }
  return t == te;
}

} // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  return match(pattern.data(), pattern.data() + pattern.size(), text.data(), text.data() + text.size());
}

std::string collect_problem(std::string_view pattern) {
  if (pattern.empty())
    return "an empty pattern";
  if (pattern.front() == '/')
    return "must be relative to the output directory ($DISTENV_OUTPUT)";
  for (size_t at = 0; at <= pattern.size();) {
    const size_t end = std::min(pattern.find('/', at), pattern.size());
    if (pattern.substr(at, end - at) == "..")
      return "'..' would leave the output directory";
    at = end + 1;
  }
  return {};
}

bool collect_match(std::string_view pattern, std::string_view path) {
  if (pattern.find('/') != std::string_view::npos)
    return glob_match(pattern, path);
  const size_t slash = path.rfind('/');
  return glob_match(pattern, slash == std::string_view::npos ? path : path.substr(slash + 1));
}

} // namespace distenv
