#pragma once

#include <distenv/job/activate.hpp>
#include <distenv/job/read.hpp>
#include <distenv/job/session.hpp>
#include <distenv/report/job_report.hpp>
#include <distenv/transport/comm.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace distenv::job {

// The job asks for Julia's compiled caches to be made before workers start
// (--precompile, or --instantiate which includes it).
bool compiles(const cli::Options& o);
// ... or at least for every machine to prove its workers need no compiling
// (--offline too).
bool checks_loading(const cli::Options& o);

// The machines of one compile class (env/julia_class.hpp), by machine:
// the first compiles, the others receive its caches (one per store).
struct CompileClass {
  std::string name;
  int compiler = 0;
  std::vector<int> machines;  // all of the class, the compiler first
  std::vector<int> receivers; // of those: one per store other than the compiler's
};

// Groups the machines by class ("" for none: not part of any), in the order
// of their first machine. `stores`: each machine's store id.
std::vector<CompileClass> compile_classes(const std::vector<std::string>& classes,
                                          const std::vector<std::string>& stores);

// What one class's caches cost (rank 0's report).
using ClassReport = report::JobReport::Compiled;

// The stream of one class's caches from its compiler (`group` rank 0) to
// its receivers: each receiver lists what it has, the compiler sends the
// cache files any of them lacks or holds otherwise, each receiver renames
// them into its class's depot (job/compiled_stream.cpp). Every rank of the
// group takes part, a failed one too (`failure`: the compiler aborts the
// stream, a receiver forwards without installing).
void stream_caches(Session& s, transport::Comm& group, const std::string& cls, std::exception_ptr& failure,
                   ClassReport& report);

// Phase compile (--precompile, --instantiate, --offline; Julia): every
// machine names its compile class; --instantiate runs where it must (every
// machine when no depot ships, else once per class); one machine per class
// compiles the environment into its class's depot in the store and streams
// the caches to the class's other machines (nothing is compiled twice, or
// concurrently on a machine); then every machine checks, with its own Julia,
// that loading the environment needs neither network nor compiling, and the
// job ends naming the machine and the package where it would.
// Rank 0 gets what each class's caches cost.
std::vector<ClassReport> compile(Session& s, const Read& r, const Installed& in);

} // namespace distenv::job
