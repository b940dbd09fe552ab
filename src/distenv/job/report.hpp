#pragma once

#include <distenv/job/session.hpp>
#include <distenv/report/job_report.hpp>

#include <string>
#include <vector>

namespace distenv::job {

// Phase report: rank 0 adds every machine's encoded result to `job`,
// prints the workers' summary and the failures, and writes --report; that is
// agreed like any other phase, and only then is the exit code broadcast.
// Returns the exit code every rank agreed on.
int report(Session& s, report::JobReport job, const std::vector<std::string>& results);

} // namespace distenv::job
