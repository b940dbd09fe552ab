// Phase agreement: all ranks learn every rank's outcome.
#include <distenv/cluster/agreement.hpp>

#include <boost/mpi/collectives.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace distenv::cluster {

void agree(const boost::mpi::communicator& world, const std::string& host, const Outcome& mine) {
  // Cheap when everyone is fine: one allreduce of the worst exit code.
  int failed = mine.exit_code != 0 ? 1 : 0;
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, world);
  if (!any)
    return;
  std::vector<std::string> all;
  boost::mpi::all_gather(world, mine.exit_code != 0 ? fmt::format("{} {}: {}", mine.exit_code, host, mine.message)
                                                    : std::string(),
                         all);
  std::vector<std::string> lines;
  int exit_code = 0;
  for (const std::string& entry : all) {
    if (entry.empty())
      continue;
    const size_t space = entry.find(' ');
    std::string line = entry.substr(space + 1);
    if (std::find(lines.begin(), lines.end(), line) != lines.end())
      continue; // two ranks of one machine saying the same
    if (exit_code == 0)
      exit_code = std::stoi(entry.substr(0, space));
    lines.push_back(std::move(line));
  }
  throw PhaseFailed(std::move(lines), exit_code);
}

} // namespace distenv::cluster
