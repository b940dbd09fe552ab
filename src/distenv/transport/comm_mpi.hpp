#pragma once

#include <distenv/transport/comm.hpp>

#include <mpi.h>

#include <memory>

namespace distenv::transport {

// The Comm seam over an MPI communicator, in plain MPI (so the transport
// compiles against SimGrid's SMPI too). Errors are returned, not fatal
// (MPI_ERRORS_RETURN), and thrown as CommError naming the call.
class MpiComm : public Comm {
public:
  // A duplicate of MPI_COMM_WORLD: distenv's messages never meet the
  // application's. MPI must be initialised (MpiSession).
  static std::unique_ptr<MpiComm> world();
  ~MpiComm() override;
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;

  MPI_Comm handle() const { return m_comm; }

  int rank() const override { return m_rank; }
  int size() const override { return m_size; }
  std::string broadcast(const std::string& data, int root) override;
  std::optional<std::vector<std::string>> hello(const std::string& mine, double seconds) override;
  std::vector<std::string> all_gather(const std::string& mine) override;
  std::vector<std::string> gather(const std::string& mine, int root) override;
  int all_max(int value) override;
  std::string all_or(const std::string& bits) override;
  std::unique_ptr<Comm> split(int color) override;
  std::unique_ptr<Comm> split_machine() override;
  std::unique_ptr<Comm> duplicate(double seconds) override;
  void send(int dest, int tag, Bytes data) override;
  std::unique_ptr<Request> isend(int dest, int tag, Bytes data) override;
  Received recv(int source, int tag, MutableBytes buffer) override;
  std::unique_ptr<Request> irecv(int source, int tag, MutableBytes buffer) override;
  std::unique_ptr<Request> ibroadcast(MutableBytes buffer, int root) override;
  size_t wait_any(const std::vector<Request*>& requests) override;
  [[noreturn]] void abort(int exit_code) override;

private:
  explicit MpiComm(MPI_Comm comm); // takes ownership
  MPI_Comm m_comm;
  int m_rank = 0, m_size = 1;
};

// MPI for the life of the process's job: initialised once, finalised at the
// end. Only one per process. It asks for MPI_THREAD_MULTIPLE: the heartbeat
// thread (cluster/heartbeat.hpp) talks while the main thread waits.
class MpiSession {
public:
  MpiSession(int argc, const char* const* argv);
  ~MpiSession();
  // The library lets several threads call it at once.
  bool threads() const;
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace distenv::transport
