// Phase check: what each machine's store has of the plan.
#include <distenv/job/check.hpp>

#include <distenv/transport/codec.hpp>

namespace distenv::job {

namespace {

// A leader's look at its store. The environment found installed is marked
// in use at once, so that a gc running meanwhile leaves it.
cluster::StoreState look(Session& s, const cluster::JobPlan& plan, Checked& c) {
  cluster::StoreState st;
  st.store_id = s.store.identity();
  st.has = s.store.has(plan.tree_hash);
  if (st.has) {
    if (std::string what = s.store.verify(plan.tree_hash); !what.empty()) {
      st.has = false; // changed since it was installed: received again, and repaired
      st.changed = what;
    }
  }
  if (st.has) {
    try {
      c.in_use = std::make_shared<install::Store::InUse>(s.store, plan.tree_hash);
    } catch (const InputError&) {
      throw;
    } catch (const Error&) {
      st.has = false; // removed just now: it will be sent
    }
  }
  if (!st.has) {
    install::check_free_space(s.store.envs_dir(), plan.disk_estimate(s.store.block_size()));
    // The per-file delta: which contents are here already (one lstat per
    // object), held for gc until the install that links them is done.
    c.here = std::make_unique<install::Objects>(s.store.objects_dir(), s.store.link_mode());
    c.here->hold();
    c.here->load();
    for (const cluster::JobPlan::Content& content : plan.contents)
      if (c.here->has(content.hash))
        c.present.insert(content.hash);
  }
  return st;
}

} // namespace

Checked check(Session& s, const cluster::JobPlan& plan) {
  Checked c;
  const std::vector<std::string> replies = s.agree.all_gather([&] {
    s.observe(Phase::check);
    return s.leader() ? transport::encode(look(s, plan, c)) : std::string();
  });
  for (const cluster::Machine& m : s.machines.all)
    c.states.push_back(transport::decode<cluster::StoreState>(replies[static_cast<size_t>(m.leader)]));
  s.lap(Phase::check);
  return c;
}

} // namespace distenv::job
