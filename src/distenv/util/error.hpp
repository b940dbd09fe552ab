#pragma once

#include <stdexcept>
#include <string>

namespace distenv {

// The job cannot go on. The message is one line: what, where and why
// ("Manifest.toml:12:5: expected '='", "node3: not enough space in ...").
class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), m_exit_code(exit_code) {}
  int exit_code() const { return m_exit_code; }

private:
  int m_exit_code;
};

// The user's input is wrong (a manifest, a path, an option): exit code 2.
class InputError : public Error {
public:
  explicit InputError(const std::string& message) : Error(message, 2) {}
};

// strerror(err) as a std::string, lowercase like the rest of our messages.
std::string errno_text(int err);

} // namespace distenv
