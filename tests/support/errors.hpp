#pragma once

#include <distenv/util/error.hpp>

#include <string>

namespace distenv::test {

// The message of the Error (of type E: InputError for bad input) that
// `f()` throws, or `none` when it throws nothing. What the tests compare
// error lines with, to the letter.
template <typename E = Error, typename F> std::string error_of(F&& f, const std::string& none = "no error") {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return none;
}

} // namespace distenv::test
