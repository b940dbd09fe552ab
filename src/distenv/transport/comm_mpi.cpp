// The Comm seam over MPI: byte collectives, point to point, abort.
#include <distenv/transport/comm_mpi.hpp>

#include <distenv/transport/chunk_buffer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <numeric>
#include <thread>

namespace distenv::transport {

namespace {

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS)
    return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS)
    length = 0;
  throw CommError(
      fmt::format("{} failed: {}", call,
                  length ? std::string(text, static_cast<size_t>(length)) : fmt::format("MPI error {}", rc)));
}

int to_int(size_t n, const char* what) {
  if (n > static_cast<size_t>(INT_MAX))
    throw CommError(fmt::format("{}: {} bytes is more than one MPI message can carry", what, n));
  return static_cast<int>(n);
}

// Displacements of the parts of an all-gather/gather; the total must fit an int.
std::vector<int> offsets(const std::vector<long long>& sizes, std::vector<int>& counts, const char* what) {
  std::vector<int> displs(sizes.size());
  size_t total = 0;
  counts.resize(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    displs[i] = to_int(total, what);
    counts[i] = to_int(static_cast<size_t>(sizes[i]), what);
    total += static_cast<size_t>(sizes[i]);
  }
  to_int(total, what);
  return displs;
}

// Waits for a nonblocking call without keeping a core busy: a rank that
// waits long (for rank 0 to read the environment, for another machine's
// workers to end, for the next chunk on a slow link) would otherwise spin in
// MPI for all of it, taking the CPU from its own machine's workers, installer
// and decompression. The first `spin_seconds` are spent polling (200 us for
// collectives; 1 ms on the data path, a chunk's time on a fast link, so no
// latency is added while the stream flows), so a fast call costs what a
// blocking one does; then the rank sleeps between polls, 10 us doubling up to
// `max_pause_ns`: 1 ms for collectives (noise next to anything distenv waits
// for), 100 us for the data path, where a poll also moves this rank's sends
// along. In a simulation (waits_block) the library's own wait is used.
constexpr long k_collective_pause_ns = 1'000'000;
constexpr long k_data_pause_ns = 100'000;

// `timeout_seconds` > 0: false when the request has not completed by then
// (it stays pending: the caller ends the job).
bool settle(MPI_Request& request, const char* call, MPI_Status* status = MPI_STATUS_IGNORE,
            long max_pause_ns = k_collective_pause_ns, double spin_seconds = 200e-6,
            double timeout_seconds = 0) {
  if (waits_block()) {
    check(MPI_Wait(&request, status), call);
    return true;
  }
  const double start = monotonic_seconds();
  long pause_ns = 0;
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, status), call);
    if (done)
      return true;
    if (timeout_seconds > 0 && monotonic_seconds() - start > timeout_seconds)
      return false;
    if (monotonic_seconds() - start < spin_seconds)
      continue;
    pause_ns = std::min(std::max(pause_ns * 2, 10'000L), max_pause_ns);
    pause_for(pause_ns);
  }
}

std::vector<std::string> split_parts(const std::string& all, const std::vector<int>& counts,
                                     const std::vector<int>& displs) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < counts.size(); ++i)
    parts.emplace_back(all, static_cast<size_t>(displs[i]), static_cast<size_t>(counts[i]));
  return parts;
}

class MpiRequest : public Request {
public:
  enum Kind { send, receive, collective };
  MpiRequest(Kind kind) : m_kind(kind) {}
  MpiRequest(bool receive) : m_kind(receive ? Kind::receive : Kind::send) {}
  ~MpiRequest() override {
    if (m_done || m_request == MPI_REQUEST_NULL)
      return;
    if (m_kind == Kind::receive) { // nobody will read it: stop waiting for it
      MPI_Cancel(&m_request);
      MPI_Wait(&m_request, &m_status);
    } else if (m_kind == Kind::send) { // completes on its own; whoever owns the buffer keeps it alive
      MPI_Request_free(&m_request);
    } else { // a collective can be neither cancelled nor freed: it must end
      MPI_Wait(&m_request, &m_status);
    }
  }
  bool test() override {
    if (m_done)
      return true;
    int flag = 0;
    check(MPI_Test(&m_request, &flag, &m_status), "MPI_Test");
    m_done = flag != 0;
    return m_done;
  }
  void wait() override {
    if (!m_done)
      settle(m_request, "MPI_Test", &m_status, k_data_pause_ns, 1e-3);
    m_done = true;
  }
  void cancel() override {
    if (m_done || m_kind != Kind::receive)
      return;
    check(MPI_Cancel(&m_request), "MPI_Cancel");
    check(MPI_Wait(&m_request, &m_status), "MPI_Wait");
    m_done = true;
  }
  size_t size() const override {
    int count = 0;
    MPI_Get_count(&m_status, MPI_BYTE, &count);
    return count > 0 ? static_cast<size_t>(count) : 0;
  }
  int source() const override { return m_status.MPI_SOURCE; }
  int tag() const override { return m_status.MPI_TAG; }

  MPI_Request m_request = MPI_REQUEST_NULL;
  MPI_Status m_status{};
  Kind m_kind;
  bool m_done = false;
};

} // namespace

std::unique_ptr<MpiComm> MpiComm::world() {
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  MPI_Comm dup;
  check(MPI_Comm_dup(MPI_COMM_WORLD, &dup), "MPI_Comm_dup");
  return std::unique_ptr<MpiComm>(new MpiComm(dup));
}

MpiComm::MpiComm(MPI_Comm comm) : m_comm(comm) {
  check(MPI_Comm_set_errhandler(m_comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(m_comm, &m_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(m_comm, &m_size), "MPI_Comm_size");
}

MpiComm::~MpiComm() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Comm_free(&m_comm);
}

std::string MpiComm::broadcast(const std::string& data, int root) {
  unsigned long long size = data.size();
  MPI_Request r;
  check(MPI_Ibcast(&size, 1, MPI_UNSIGNED_LONG_LONG, root, m_comm, &r), "MPI_Ibcast");
  settle(r, "MPI_Ibcast");
  std::string out = m_rank == root ? data : std::string(size, '\0');
  check(MPI_Ibcast(out.data(), to_int(size, "MPI_Ibcast"), MPI_BYTE, root, m_comm, &r), "MPI_Ibcast");
  settle(r, "MPI_Ibcast");
  return out;
}

std::optional<std::vector<std::string>> MpiComm::hello(const std::string& mine, double seconds) {
  // A fixed record: two bytes of length, then the bytes. One collective, so
  // that any two versions that start with it complete it.
  constexpr size_t k_record = k_hello_bytes + 2;
  if (mine.size() > k_hello_bytes)
    throw std::logic_error("hello: more than k_hello_bytes");
  std::string record(k_record, '\0');
  record[0] = static_cast<char>(mine.size() & 0xff);
  record[1] = static_cast<char>(mine.size() >> 8);
  std::copy(mine.begin(), mine.end(), record.begin() + 2);
  std::string all(k_record * static_cast<size_t>(m_size), '\0');
  MPI_Request r;
  check(MPI_Iallgather(record.data(), static_cast<int>(k_record), MPI_BYTE, all.data(),
                       static_cast<int>(k_record), MPI_BYTE, m_comm, &r),
        "MPI_Iallgather");
  if (!settle(r, "MPI_Iallgather", MPI_STATUS_IGNORE, k_collective_pause_ns, 200e-6, seconds))
    return std::nullopt;
  std::vector<std::string> out;
  for (size_t i = 0; i < static_cast<size_t>(m_size); ++i) {
    const char* at = all.data() + i * k_record;
    const size_t size =
        static_cast<unsigned char>(at[0]) | (static_cast<size_t>(static_cast<unsigned char>(at[1])) << 8);
    out.emplace_back(at + 2, std::min(size, k_hello_bytes));
  }
  return out;
}

std::vector<std::string> MpiComm::all_gather(const std::string& mine) {
  long long size = static_cast<long long>(mine.size());
  std::vector<long long> sizes(static_cast<size_t>(m_size));
  MPI_Request r;
  check(MPI_Iallgather(&size, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, m_comm, &r),
        "MPI_Iallgather");
  settle(r, "MPI_Iallgather");
  std::vector<int> counts;
  const std::vector<int> displs = offsets(sizes, counts, "MPI_Allgatherv");
  std::string all(static_cast<size_t>(std::accumulate(sizes.begin(), sizes.end(), 0LL)), '\0');
  check(MPI_Iallgatherv(mine.data(), counts[static_cast<size_t>(m_rank)], MPI_BYTE, all.data(), counts.data(),
                        displs.data(), MPI_BYTE, m_comm, &r),
        "MPI_Iallgatherv");
  settle(r, "MPI_Iallgatherv");
  return split_parts(all, counts, displs);
}

std::vector<std::string> MpiComm::gather(const std::string& mine, int root) {
  long long size = static_cast<long long>(mine.size());
  std::vector<long long> sizes(m_rank == root ? static_cast<size_t>(m_size) : 0);
  MPI_Request r;
  check(MPI_Igather(&size, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, root, m_comm, &r),
        "MPI_Igather");
  settle(r, "MPI_Igather");
  std::vector<int> counts;
  const std::vector<int> displs = offsets(sizes, counts, "MPI_Gatherv");
  std::string all(static_cast<size_t>(std::accumulate(sizes.begin(), sizes.end(), 0LL)), '\0');
  check(MPI_Igatherv(mine.data(), to_int(mine.size(), "MPI_Igatherv"), MPI_BYTE, all.data(), counts.data(),
                     displs.data(), MPI_BYTE, root, m_comm, &r),
        "MPI_Igatherv");
  settle(r, "MPI_Igatherv");
  return m_rank == root ? split_parts(all, counts, displs) : std::vector<std::string>{};
}

int MpiComm::all_max(int value) {
  int out = 0;
  MPI_Request r;
  check(MPI_Iallreduce(&value, &out, 1, MPI_INT, MPI_MAX, m_comm, &r), "MPI_Iallreduce");
  settle(r, "MPI_Iallreduce");
  return out;
}

std::string MpiComm::all_or(const std::string& bits) {
  std::string out(bits.size(), '\0');
  MPI_Request r;
  check(MPI_Iallreduce(bits.data(), out.data(), to_int(bits.size(), "MPI_Iallreduce"), MPI_UNSIGNED_CHAR,
                       MPI_BOR, m_comm, &r),
        "MPI_Iallreduce");
  settle(r, "MPI_Iallreduce");
  return out;
}

std::unique_ptr<Comm> MpiComm::split(int color) {
  MPI_Comm part;
  check(MPI_Comm_split(m_comm, color < 0 ? MPI_UNDEFINED : color, m_rank, &part), "MPI_Comm_split");
  if (part == MPI_COMM_NULL)
    return nullptr;
  return std::unique_ptr<Comm>(new MpiComm(part));
}

std::unique_ptr<Comm> MpiComm::duplicate(double seconds) {
  MPI_Comm dup;
  MPI_Request r;
  check(MPI_Comm_idup(m_comm, &dup, &r), "MPI_Comm_idup");
  if (!settle(r, "MPI_Comm_idup", MPI_STATUS_IGNORE, k_collective_pause_ns, 200e-6, seconds))
    return nullptr; // pending: the caller ends the job
  return std::unique_ptr<Comm>(new MpiComm(dup));
}

std::unique_ptr<Comm> MpiComm::split_machine() {
  MPI_Comm part;
  check(MPI_Comm_split_type(m_comm, MPI_COMM_TYPE_SHARED, m_rank, MPI_INFO_NULL, &part),
        "MPI_Comm_split_type");
  return std::unique_ptr<Comm>(new MpiComm(part));
}

void MpiComm::send(int dest, int tag, Bytes data) {
  check(MPI_Send(data.data(), to_int(data.size(), "MPI_Send"), MPI_BYTE, dest, tag, m_comm), "MPI_Send");
}

std::unique_ptr<Request> MpiComm::isend(int dest, int tag, Bytes data) {
  auto r = std::make_unique<MpiRequest>(false);
  check(MPI_Isend(data.data(), to_int(data.size(), "MPI_Isend"), MPI_BYTE, dest, tag, m_comm, &r->m_request),
        "MPI_Isend");
  return r;
}

Received MpiComm::recv(int source, int tag, MutableBytes buffer) {
  MPI_Status status;
  MPI_Request r;
  check(MPI_Irecv(buffer.data(), to_int(buffer.size(), "MPI_Irecv"), MPI_BYTE,
                  source == k_any ? MPI_ANY_SOURCE : source, tag == k_any ? MPI_ANY_TAG : tag, m_comm, &r),
        "MPI_Irecv");
  settle(r, "MPI_Test", &status, k_data_pause_ns, 1e-3);
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  return {status.MPI_TAG, status.MPI_SOURCE, static_cast<size_t>(count)};
}

std::unique_ptr<Request> MpiComm::irecv(int source, int tag, MutableBytes buffer) {
  auto r = std::make_unique<MpiRequest>(true);
  check(MPI_Irecv(buffer.data(), to_int(buffer.size(), "MPI_Irecv"), MPI_BYTE,
                  source == k_any ? MPI_ANY_SOURCE : source, tag == k_any ? MPI_ANY_TAG : tag, m_comm,
                  &r->m_request),
        "MPI_Irecv");
  return r;
}

size_t MpiComm::wait_any(const std::vector<Request*>& requests) {
  if (!waits_block())
    return poll_any(requests);
  std::vector<MPI_Request> handles;
  for (Request* r : requests) {
    auto* m = dynamic_cast<MpiRequest*>(r);
    if (!m)
      throw CommError("wait_any: a request of another transport");
    if (m->m_done)
      return handles.size();
    handles.push_back(m->m_request);
  }
  int index = MPI_UNDEFINED;
  MPI_Status status;
  check(MPI_Waitany(static_cast<int>(handles.size()), handles.data(), &index, &status), "MPI_Waitany");
  if (index == MPI_UNDEFINED)
    throw CommError("wait_any: no active request");
  auto* done = static_cast<MpiRequest*>(requests[static_cast<size_t>(index)]);
  done->m_request = handles[static_cast<size_t>(index)];
  done->m_status = status;
  done->m_done = true;
  return static_cast<size_t>(index);
}

std::unique_ptr<Request> MpiComm::ibroadcast(MutableBytes buffer, int root) {
  auto r = std::make_unique<MpiRequest>(MpiRequest::Kind::collective);
  check(MPI_Ibcast(buffer.data(), to_int(buffer.size(), "MPI_Ibcast"), MPI_BYTE, root, m_comm, &r->m_request),
        "MPI_Ibcast");
  return r;
}

void MpiComm::abort(int exit_code) {
  // MPI_Abort asks the launcher to end every rank. When the launcher cannot
  // be reached (this machine's network is cut) it may never return: this
  // process ends anyway, and its workers with it (the guard).
  std::thread([exit_code] {
    std::this_thread::sleep_for(std::chrono::seconds(10));
    std::_Exit(exit_code);
  }).detach();
  MPI_Abort(m_comm, exit_code);
  std::_Exit(exit_code); // MPI_Abort returned: end this process at least
}

} // namespace distenv::transport
