#pragma once

#include <distenv/transport/comm.hpp>

#include <array>
#include <cstddef>
#include <deque>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace distenv::cluster {

// A control line, "signal ID SIG": send SIG (INT, SIGINT, 2, ...) to the
// worker whose job-wide id is ID (its DISTENV_WORKER_ID, the N of its
// "[host:N]" lines).
struct SignalRequest {
  int worker = 0;
  int signal = 0;
};
// Throws Error saying what is wrong with any other line.
SignalRequest parse_signal_line(std::string_view line);

// While the workers run, a front end (Distenv.jl's `interrupt`) asks for a
// signal to one worker on rank 0's control descriptor (`--control-stdin`:
// the launcher's stdin, which mpirun forwards to rank 0). Rank 0 reads the
// lines and sends each request to the rank that owns the worker; each rank
// hands its own to its supervisor. Every rank of `comm` makes one at the
// start of the workers phase; settle(), a collective after the phase, takes
// in every request that was sent, so none is left for a later phase.
class WorkerSignals {
public:
  // `counts`: the workers of each rank, by rank. `control_fd`: rank 0's
  // source of lines (-1: none); bad lines are warned about on `warnings`.
  WorkerSignals(transport::Comm& comm, std::vector<int> counts, int control_fd, std::ostream& warnings);
  ~WorkerSignals();
  WorkerSignals(const WorkerSignals&) = delete;
  WorkerSignals& operator=(const WorkerSignals&) = delete;

  // What arrived for this rank's workers since the last call: (index among
  // this rank's workers, signal). Cheap; meant to be polled.
  std::vector<std::pair<size_t, int>> take();
  // After the phase, on every rank.
  void settle();

private:
  void read_control(std::vector<std::pair<size_t, int>>& mine);
  void route(const std::string& line, std::vector<std::pair<size_t, int>>& mine);
  void post();

  transport::Comm& m_comm;
  std::vector<int> m_counts;
  int m_control_fd;
  std::ostream& m_warnings;
  std::string m_partial; // rank 0: an incomplete control line
  std::array<std::byte, 8> m_buffer{};
  std::unique_ptr<transport::Request> m_pending;
  std::vector<std::unique_ptr<transport::Request>> m_sends;
  std::deque<std::array<std::byte, 8>> m_send_buffers; // stable while their sends run
  std::vector<int> m_sent;                             // rank 0: requests sent, by rank
  int m_received = 0;
};

} // namespace distenv::cluster
