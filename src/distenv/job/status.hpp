#pragma once

#include <distenv/cli/options.hpp>
#include <distenv/job/context.hpp>

namespace distenv::job {

// `--status`: one row per machine of the job on ctx.out (no install, no
// workers); --report gets the rows as JSON.
int status(const cli::Options& o, JobContext& ctx);

// `--gc N`: on every machine, keep the N most recently used environments;
// one line per machine on ctx.out.
int gc(const cli::Options& o, JobContext& ctx);

} // namespace distenv::job
