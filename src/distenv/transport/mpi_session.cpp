// The process's one MPI session (Boost.MPI's environment: init and finalize).
#include <distenv/transport/comm_mpi.hpp>

#include <boost/mpi/environment.hpp>

namespace distenv::transport {

struct MpiSession::Impl {
  int argc;
  char** argv;
  boost::mpi::environment env;
  Impl(int c, char** v) : argc(c), argv(v), env(argc, argv, boost::mpi::threading::multiple, false) {}
};

MpiSession::MpiSession(int argc, const char* const* argv)
    : m_impl(std::make_unique<Impl>(argc, const_cast<char**>(argv))) {}

MpiSession::~MpiSession() = default;

bool MpiSession::threads() const {
  return m_impl->env.thread_level() >= boost::mpi::threading::multiple;
}

} // namespace distenv::transport
