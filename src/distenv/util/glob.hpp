#pragma once

#include <string_view>

namespace distenv {

// Shell-style wildcard match of a '/'-separated path, as gitignore does it:
// '*' and '?' never match '/', '[a-z]' / '[!x]' are classes, '\' escapes,
// '**' matches anything including '/', and '**/' also matches no directory.
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace distenv
