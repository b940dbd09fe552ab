// The job's stop (SIGUSR2 from distenv run, through mpirun).
#include <distenv/util/interrupt.hpp>

namespace distenv {

namespace {

volatile sig_atomic_t g_stop = 0;

void on_stop(int) {
  g_stop = 1;
}

} // namespace

void catch_stop_signal() {
  g_stop = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(k_stop_signal, &sa, nullptr);
}

void note_stop() noexcept {
  g_stop = 1;
}

bool stop_asked() noexcept {
  return g_stop != 0;
}

void check_stop() {
  if (g_stop)
    throw Stopped();
}

} // namespace distenv
