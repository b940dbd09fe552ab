#pragma once

#include <string>
#include <string_view>

namespace distenv {

// Shell-style wildcard match of a '/'-separated path, as gitignore does it:
// '*' and '?' never match '/', '[a-z]' / '[!x]' are classes, '\' escapes,
// '**' matches anything including '/', and '**/' also matches no directory.
bool glob_match(std::string_view pattern, std::string_view text);

// A pattern of what a job collects from each machine's output directory
// (--collect, distenv.toml `collect`), matched by collect_match: empty when
// usable, else why not (empty, absolute, '..').
std::string collect_problem(std::string_view pattern);
// A pattern with a '/' is matched against the path below the output
// directory, one without against each file's name, at any depth (as
// .gitignore does).
bool collect_match(std::string_view pattern, std::string_view path);

} // namespace distenv
