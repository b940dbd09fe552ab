// The top-level error handler both programs share.
#include <distenv/util/main.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/style.hpp>

#include <cstdio>
#include <exception>

namespace distenv {

int handle_errors(const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s%s\n", error_prefix().c_str(), e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s%s\n", error_prefix().c_str(), e.what());
    return 1;
  }
}

} // namespace distenv
