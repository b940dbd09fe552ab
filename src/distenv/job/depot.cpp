// Phase depot: a Julia environment's registered packages and artifacts.
#include <distenv/job/depot.hpp>

#include <distenv/job/check.hpp>

namespace distenv::job {

Transferred transfer_depot(Session& s, const Read& r) {
  if (!r.depot)
    return {};
  Checked c = check_depot(s, *r.depot);
  return transfer(s, *r.depot, r.prepared && r.prepared->depot ? &r.prepared->depot->tree : nullptr, c,
                  Phase::depot);
}

} // namespace distenv::job
