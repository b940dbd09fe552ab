// Many machines in one process: run_job on threads over the fake Comm.
#include "fake_cluster.hpp"

#include "support/comm_fake.hpp"
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/interrupt.hpp>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <thread>

namespace distenv::test {

// Each worker ends when a signal for it comes (its status 128 + signal);
// the job's stop ends the rest.
workers::Supervised FakeRunner::run_until_signalled(const std::vector<workers::Spec>& specs,
                                                    const workers::SuperviseOptions& options) {
  workers::Supervised result;
  std::vector<int> signal_of(specs.size(), 0);
  size_t running = specs.size();
  while (running > 0 && !(options.should_stop && options.should_stop())) {
    for (const auto& [index, sig] : options.take_signals ? options.take_signals() : decltype(signalled){}) {
      signalled.emplace_back(index, sig);
      if (index < specs.size() && signal_of[index] == 0) {
        signal_of[index] = sig;
        --running;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stopped = result.stopped = running > 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    workers::Exit e;
    e.label = specs[i].label;
    e.signal = e.asked = signal_of[i];
    if (!signal_of[i])
      e.signal = 15;
    result.exits.push_back(e);
  }
  return result;
}

workers::Supervised FakeRunner::run(const std::vector<workers::Spec>& specs,
                                    const workers::SuperviseOptions& options) {
  workers::Supervised result;
  if (specs.size() == 1 && (specs[0].label.ends_with(":compile") || specs[0].label.ends_with(":check") ||
                            specs[0].label.ends_with(":instantiate"))) {
    julia_steps.push_back(specs[0]);
    workers::Exit e;
    e.label = specs[0].label;
    e.code = m_behaviour.julia_step ? m_behaviour.julia_step(specs[0]) : 0;
    result.exits.push_back(e);
    return result;
  }
  const bool is_each_machine = specs.size() == 1 && specs[0].label.ends_with(":each-machine");
  (is_each_machine ? each_machine : workers)
      .insert((is_each_machine ? each_machine : workers).end(), specs.begin(), specs.end());
  int status = is_each_machine ? m_behaviour.each_machine_status : m_behaviour.worker_status;
  if (!is_each_machine) {
    if (m_behaviour.cannot_start)
      throw Error("fork: resource temporarily unavailable");
    if (m_behaviour.while_workers_run)
      m_behaviour.while_workers_run();
    if (m_behaviour.each_worker)
      for (const workers::Spec& s : specs)
        m_behaviour.each_worker(s);
    if (m_behaviour.signal)
      result.interrupted_by = m_behaviour.signal;
    if (m_behaviour.run_until_signalled)
      return run_until_signalled(specs, options);
    if (m_behaviour.run_until_stopped) {
      // A long sweep: it ends only when the job stops it. The watchdog of
      // run_fake_job ends the test if that never happens.
      while (!(options.should_stop && options.should_stop()))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      stopped = result.stopped = true;
      status = 128 + 15;
    }
  }
  for (const workers::Spec& s : specs) {
    workers::Exit e;
    e.label = s.label;
    if (status > 128)
      e.signal = status - 128;
    else
      e.code = status;
    result.exits.push_back(e);
  }
  return result;
}

void FaultObserver::phase(Phase p) {
  const std::string_view name = phase_name(p);
  phases.emplace_back(name);
  if (m_fault.phase != name)
    return;
  if (m_fault.action)
    return m_fault.action();
  throw Error(m_fault.message + " in " + std::string(name), m_fault.exit_code);
}

void FaultObserver::installed(uint64_t bytes) {
  if (!m_fault.installed_bytes || bytes < m_fault.installed_bytes)
    return;
  if (!m_fault.action)
    throw Error(m_fault.message, m_fault.exit_code);
  if (!m_acted.exchange(true))
    m_fault.action();
}

FakeJobResult run_fake_job(const std::vector<FakeMachine>& machines, const cli::Options& options,
                           double timeout_seconds, JobEntry entry) {
  std::vector<int> machine_of_rank;
  for (size_t m = 0; m < machines.size(); ++m)
    for (int r = 0; r < machines[m].ranks; ++r)
      machine_of_rank.push_back(static_cast<int>(m));
  const size_t n = machine_of_rank.size();

  // Everything the threads touch lives here, kept alive by every thread.
  struct Shared {
    transport::FakeNetwork network;
    std::mutex mutex;
    std::condition_variable done;
    size_t finished = 0;
    std::vector<RankEnd> ends;
    explicit Shared(std::vector<int> m) : network(std::move(m)) {}
  };
  auto shared = std::make_shared<Shared>(machine_of_rank);
  shared->ends.resize(n);

  for (size_t rank = 0; rank < n; ++rank)
    if (const auto& damage = machines[static_cast<size_t>(machine_of_rank[rank])].damage)
      shared->network.tamper_with(static_cast<int>(rank),
                                  [damage, chunk = 0](int tag, std::string& bytes) mutable {
                                    if (tag == transport::k_tag_data)
                                      damage(chunk++, bytes);
                                  });

  std::vector<std::thread> threads;
  for (size_t rank = 0; rank < n; ++rank) {
    const int m = machine_of_rank[rank];
    const FakeMachine& machine = machines[static_cast<size_t>(m)];
    const bool first_of_machine = rank == 0 || machine_of_rank[rank - 1] != m;
    threads.emplace_back([shared, rank, m, machine, first_of_machine, options, entry] {
      RankEnd end;
      end.machine = m;
      cli::Options o = options;
      o.dest = machine.dest;
      o.collector = machine.collector;
      FakeRunner runner(machine.processes);
      FaultObserver observer(first_of_machine ? machine.fault : Fault{});
      std::ostringstream out, err;
      std::unique_ptr<transport::Comm> world = shared->network.world(static_cast<int>(rank));
      JobContext ctx{*world, machine.host, runner, machine.environment, out, err, &observer};
      // Every rank gets a progress file (only rank 0 writes), as a log, a
      // line for every tenth.
      std::FILE* progress = std::tmpfile();
      ctx.progress = progress;
      ctx.progress_interval = std::chrono::milliseconds(0);
      if (!machine.julia_class.empty())
        ctx.julia_class = [cls = machine.julia_class](const std::string&) { return cls; };
      if (first_of_machine)
        ctx.control_fd = machine.control_fd;
      try {
        end.exit_code = entry(o, ctx);
      } catch (const transport::FakeAbort& a) {
        end.exit_code = a.exit_code;
        end.aborted = true;
      } catch (const std::exception& e) {
        err << "run_job threw: " << e.what() << "\n";
        end.aborted = true;
      }
      shared->network.leave(static_cast<int>(rank));
      end.out = out.str();
      end.err = err.str();
      if (progress) {
        end.progress.resize(static_cast<size_t>(std::max(0L, std::ftell(progress))));
        std::rewind(progress);
        end.progress.resize(std::fread(end.progress.data(), 1, end.progress.size(), progress));
        std::fclose(progress);
      }
      end.each_machine = runner.each_machine;
      end.workers = runner.workers;
      end.julia_steps = runner.julia_steps;
      end.workers_stopped = runner.stopped;
      end.signalled = runner.signalled;
      end.phases = observer.phases;
      std::lock_guard lock(shared->mutex);
      shared->ends[rank] = std::move(end);
      ++shared->finished;
      shared->done.notify_all();
    });
  }

  FakeJobResult result;
  {
    std::unique_lock lock(shared->mutex);
    auto all_done = [&] { return shared->finished == n; };
    const auto timeout = std::chrono::duration<double>(timeout_seconds);
    if (!shared->done.wait_for(lock, timeout, all_done)) {
      result.hung = true;
      lock.unlock();
      shared->network.abort_all("the watchdog: the job did not end in time");
      lock.lock();
      if (!shared->done.wait_for(lock, timeout, all_done)) {
        std::fprintf(stderr, "fake job: ranks still running after the watchdog aborted the job\n");
        std::abort(); // fail loudly rather than hang the test run
      }
    }
  }
  for (std::thread& t : threads)
    t.join();
  result.ranks = shared->ends;
  result.abort_reason = shared->network.aborted();
  return result;
}

void reset_stop() {
  catch_stop_signal();
  ::signal(k_stop_signal, SIG_DFL);
}

} // namespace distenv::test
