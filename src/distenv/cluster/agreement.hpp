#pragma once

#include <distenv/util/error.hpp>

#include <boost/mpi/communicator.hpp>

#include <string>
#include <vector>

namespace distenv::cluster {

// A phase failed somewhere. Every rank throws it, with the same content:
// one line per failing machine ("node3: not enough space in ...").
class PhaseFailed : public Error {
public:
  PhaseFailed(std::vector<std::string> lines, int exit_code)
      : Error(lines.front(), exit_code), m_lines(std::move(lines)) {}
  const std::vector<std::string>& lines() const { return m_lines; }

private:
  std::vector<std::string> m_lines;
};

// One rank's outcome of a phase: exit_code 0 is success.
struct Outcome {
  int exit_code = 0;
  std::string message;
};

// Phase boundary: every rank says how its part went and learns how everyone's
// went. Throws PhaseFailed on every rank when any rank failed; the first
// failing machine's exit code wins.
void agree(const boost::mpi::communicator& world, const std::string& host, const Outcome& mine);

// Runs `step` and turns what it throws into this rank's Outcome, then agrees.
template <typename Step>
void phase(const boost::mpi::communicator& world, const std::string& host, Step&& step) {
  Outcome outcome;
  try {
    step();
  } catch (const Error& e) {
    outcome = {e.exit_code(), e.what()};
  } catch (const std::exception& e) {
    outcome = {1, e.what()};
  }
  agree(world, host, outcome);
}

} // namespace distenv::cluster
