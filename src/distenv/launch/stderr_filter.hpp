#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace distenv::launch {

// What mpirun writes on stderr, passed on as it comes (a progress line
// ending in '\r' at once), but for Open MPI's noise about a failure distenv
// has explained: once a "distenv: error:" line has passed (or `explained()`
// was called: distenv run names the signal it got), the banners that say a
// process "returned a non-zero exit code" are dropped, and always mpirun's
// "Forwarding signal" line. Every other banner (a rank killed by a signal, a
// daemon lost) passes: distenv did not explain it.
class StderrFilter {
public:
  explicit StderrFilter(std::function<void(std::string_view)> out) : m_out(std::move(out)) {}
  void feed(std::string_view bytes);
  void finish(); // what is held, as it is
  void explained() { m_explained = true; }

private:
  void line_done(); // m_pending holds a whole line
  void emit(std::string_view s);

  std::function<void(std::string_view)> m_out;
  std::string m_pending;  // the current line, held while it may be a rule or the forwarding line
  bool m_passing = false; // the current line is passed on as it comes
  std::string m_head;     // its first bytes (is it distenv's error line?)
  std::string m_block;    // a banner, from its opening rule
  bool m_in_block = false;
  bool m_explained = false;
};

} // namespace distenv::launch
