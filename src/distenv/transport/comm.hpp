#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace distenv::transport {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;

// Communication failed (a peer is gone, the library reported an error). The
// job cannot agree on anything after this: the caller ends the job.
class CommError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A send or receive in flight. The buffer it was given must stay valid until
// it completes; destroying an incomplete request waits for it (a receive is
// cancelled first).
class Request {
public:
  virtual ~Request() = default;
  virtual bool test() = 0; // completed?
  virtual void wait() = 0;
  virtual void cancel() = 0;       // receives only: give up waiting
  virtual size_t size() const = 0; // a completed receive: bytes received
  virtual int source() const = 0;  // a completed receive: who sent it
  virtual int tag() const = 0;     // a completed receive: its tag
};

struct Received {
  int tag = 0;
  int source = 0;
  size_t size = 0;
};

// The one seam through which distenv crosses machines: a group of ranks
// (MPI: a communicator; tests: threads of one process). Every collective must
// be called by every rank of the group, in the same order. Failures of the
// transport itself throw CommError.
// Polls `requests` until one has completed (its index): 1 ms of polling (a
// chunk's time on a fast link: no latency added while the stream flows),
// then sleeps between polls, 10 us doubling to 100 us, so a rank that waits
// long does not keep a core busy.
size_t poll_any(const std::vector<Request*>& requests);

class Comm {
public:
  static constexpr int k_any = -1; // any source (recv/irecv) or any tag (recv)

  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // ---- the first collective of every job, whatever distenv version runs it
  // Every rank's `mine` (at most k_hello_bytes), by rank, if every rank takes
  // part within `seconds`; nullopt when not (a rank of an older distenv
  // that starts with another collective, or one that is stuck). Its shape
  // must never change: it is how two versions tell each other apart.
  static constexpr size_t k_hello_bytes = 254;
  virtual std::optional<std::vector<std::string>> hello(const std::string& mine, double seconds) = 0;

  // ---- collectives (bytes)
  // Root's bytes on every rank.
  virtual std::string broadcast(const std::string& data, int root) = 0;
  // Every rank's bytes on every rank, by rank.
  virtual std::vector<std::string> all_gather(const std::string& mine) = 0;
  // Every rank's bytes on `root`, by rank; empty elsewhere.
  virtual std::vector<std::string> gather(const std::string& mine, int root) = 0;
  // The largest value any rank gave ("did anyone fail").
  virtual int all_max(int value) = 0;
  // Bitwise OR of every rank's bytes (all of one length): who lacks what.
  virtual std::string all_or(const std::string& bits) = 0;
  // Ranks giving the same color >= 0 form a group, ordered by rank; a negative
  // color takes part in the split but gets no group (nullptr).
  virtual std::unique_ptr<Comm> split(int color) = 0;
  // Ranks that share a machine (memory), ordered by rank.
  virtual std::unique_ptr<Comm> split_machine() = 0;
  // A new group of the same ranks (messages on it never meet this group's),
  // if every rank takes part within `seconds`; nullptr when not.
  virtual std::unique_ptr<Comm> duplicate(double seconds) = 0;

  // ---- point to point
  virtual void send(int dest, int tag, Bytes data) = 0;
  virtual std::unique_ptr<Request> isend(int dest, int tag, Bytes data) = 0;
  // Blocks for the next message from `source` (or k_any) with `tag` (or k_any).
  // A message larger than `buffer` is a CommError.
  virtual Received recv(int source, int tag, MutableBytes buffer) = 0;
  virtual std::unique_ptr<Request> irecv(int source, int tag, MutableBytes buffer) = 0;
  // Blocks until at least one of `requests` (not empty, of this Comm) has
  // completed; returns the index of one that has. The default polls test()
  // without keeping a core busy (see poll_any).
  virtual size_t wait_any(const std::vector<Request*>& requests) { return poll_any(requests); }
  // ---- collectives over the stream (bytes)
  // Starts a broadcast of `buffer` (every rank gives the same size) from
  // `root`; collectives started this way complete in the order started.
  virtual std::unique_ptr<Request> ibroadcast(MutableBytes buffer, int root) = 0;

  // Ends the whole job, every rank, now, with `exit_code`. Does not return.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

} // namespace distenv::transport
