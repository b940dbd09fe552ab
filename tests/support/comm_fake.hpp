#pragma once

#include <distenv/transport/comm.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace distenv::transport {

// Thrown by FakeComm::abort: the rank's thread unwinds with the job's exit
// code. Not a std::exception, so no handler of the job's code swallows it.
struct FakeAbort {
  int exit_code;
};

// An in-process stand-in for MPI: the ranks of a job are threads of one
// process, each with its own Comm. Collectives rendezvous on a shared round
// table; messages go through per-rank mailboxes (buffered: sends never
// block). Protocol bugs fail loudly instead of hanging: a collective whose
// kind differs between ranks, or one that waits for a rank that has left
// (its thread returned), throws CommError. abort() from any rank makes every
// blocked call throw CommError ("the job was aborted").
class FakeNetwork {
public:
  // One entry per rank: the machine it runs on (ranks of one machine share
  // it for split_machine()).
  explicit FakeNetwork(std::vector<int> machine_of_rank);
  ~FakeNetwork();

  int size() const;
  // The world communicator of `rank` (call once per rank, from any thread).
  std::unique_ptr<Comm> world(int rank);
  // The rank's thread is done with the job: peers still waiting for it fail.
  void leave(int rank);
  // Ends the job from outside (a watchdog): every blocked call throws.
  void abort_all(const std::string& why);
  // Why the job was aborted ("" if it was not).
  std::string aborted() const;
  // How often wait_any was given a request its caller had already been told
  // is complete (by test() or an earlier wait_any): such a wait returns at
  // once, and a loop around it spins.
  size_t waits_on_done() const;
  // Tests of what a machine does with damaged data: every message on its way
  // to world rank `to` passes through `tamper(tag, bytes)` first.
  void tamper_with(int to, std::function<void(int tag, std::string& bytes)> tamper);

  struct Shared;

private:
  std::shared_ptr<Shared> m_shared;
  std::shared_ptr<void> m_world; // the world group, made on first use
};

} // namespace distenv::transport
