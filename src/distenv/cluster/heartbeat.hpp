#pragma once

#include <distenv/transport/comm.hpp>

#include <array>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace distenv::cluster {

// Liveness: who has stopped answering. Ranks exchange small beats on a
// communicator of their own, in a star through rank 0 (rank 0 beats to
// every rank and hears from every rank; the others only to and from rank
// 0: 2(N-1) messages per interval, not N^2). A rank whose beats stop for
// longer than the timeout is silent: its process is stopped (SIGSTOP, a
// debugger) or hung in the kernel, its machine is gone without the
// launcher noticing, or the network to it is cut. The logic is a step
// function of the time it is given (tests drive it without waiting); the
// thread below runs it for a job.
class Heartbeats {
public:
  // `comm`: a group of its own (every rank of the job, in world order).
  Heartbeats(std::unique_ptr<transport::Comm> comm, double timeout_seconds, double now);
  ~Heartbeats();
  Heartbeats(const Heartbeats&) = delete;
  Heartbeats& operator=(const Heartbeats&) = delete;

  // The time between two beats: a tenth of the timeout, 50 ms to 1 s.
  double interval() const { return m_interval; }
  double timeout() const { return m_timeout; }

  // One step at `now` (monotonic seconds): sends this rank's beats when one
  // is due, takes in what arrived, and returns the ranks not heard from for
  // longer than the timeout (a peer that said goodbye is not watched).
  std::vector<int> poll(double now);
  // This rank is done with the job: its peers stop expecting its beats.
  void goodbye();
  // When `rank` was last heard from (or when watching began).
  double last_heard(int rank) const { return m_last[static_cast<size_t>(rank)]; }

private:
  void send_beats(std::byte kind);
  void post_receive(int peer);

  struct Peer {
    int rank = 0;
    std::array<std::byte, 1> buffer{};
    std::unique_ptr<transport::Request> pending;
    bool gone = false; // said goodbye
  };
  std::unique_ptr<transport::Comm> m_comm;
  double m_timeout, m_interval;
  double m_next_beat = 0;
  std::vector<double> m_last;                               // by rank
  std::vector<Peer> m_peers;                                // rank 0: every other rank; others: rank 0
  std::vector<std::unique_ptr<transport::Request>> m_sends; // beats in flight
  bool m_said_goodbye = false;
};

// Runs Heartbeats on a thread of its own for the life of a job (MPI must
// allow calls from several threads). When peers fall silent it calls
// `on_silent` once, on that thread, with the silent ranks and the time
// they have been silent, and stops; `on_silent` is expected to end the job
// (Comm::abort). The destructor says goodbye and stops the thread.
class HeartbeatThread {
public:
  using OnSilent = std::function<void(const std::vector<int>& ranks, double seconds)>;
  HeartbeatThread(std::unique_ptr<transport::Comm> comm, double timeout_seconds, OnSilent on_silent);
  ~HeartbeatThread();
  HeartbeatThread(const HeartbeatThread&) = delete;
  HeartbeatThread& operator=(const HeartbeatThread&) = delete;

private:
  void loop();

  Heartbeats m_beats;
  OnSilent m_on_silent;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::thread m_thread;
};

// The line that names silent ranks ("node3: no heartbeat for 21 s (...)"),
// as `rank` of the job sees it, or "" when this rank should end the job
// without a line of its own: rank 0 names every silent rank; when rank 0
// itself is silent, rank 1 names it and the others stay quiet (one line,
// not one per machine).
std::string silence_line(int rank, const std::vector<int>& silent, double seconds, double timeout,
                         const std::vector<std::string>& host_of_rank);

} // namespace distenv::cluster
