#pragma once

#include <distenv/util/error.hpp>

#include <csignal>

namespace distenv {

// The job's stop, asked of every rank at once: `distenv run`, interrupted
// (Ctrl-C, SIGTERM, SIGHUP), sends SIGUSR2 to mpirun, which forwards it to
// every rank. A rank then ends its phase as if it had failed there, tidily:
// workers get SIGTERM and their --grace, a transfer stops between entries
// and removes what it made, and the ranks agree and exit. (A plain SIGTERM
// from mpirun is not tidy: mpirun kills a rank odls_base_sigkill_timeout
// after it, 1 s by default, and every failed job's daemons wait twice that.)
inline constexpr int k_stop_signal = SIGUSR2;
inline constexpr const char* k_stop_message = "stopped: distenv run was interrupted";

// From now on k_stop_signal only marks the stop (the job's ranks: run());
// no stop is asked yet.
void catch_stop_signal();
// Marks it (async-signal-safe: the supervisor's own handler calls it).
void note_stop() noexcept;
bool stop_asked() noexcept;
// Throws Stopped when the stop was asked: between the steps of long work.
void check_stop();

class Stopped : public Error {
public:
  Stopped() : Error(k_stop_message, 1) {}
};

} // namespace distenv
