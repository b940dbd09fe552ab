// Phase check: what each machine's store has of the plan.
#include <distenv/job/check.hpp>

#include <distenv/install/env_index.hpp>
#include <distenv/install/slot.hpp>
#include <distenv/transport/codec.hpp>

namespace distenv::job {

namespace {

// The project's previous version on this machine, if a new one can be
// made from it (install/assemble.hpp): its files, checked by stat as any
// environment is before it is used, vouch for their contents, so the
// objects they are need no look of their own (one lstat per file, not two).
std::unordered_set<hash::Hash128> previous_version(Session& s, const cluster::JobPlan& plan, Checked& c) {
  std::unordered_set<hash::Hash128> contents;
  const std::optional<hash::Hash128> base = install::previous_version(s.store, plan.project);
  if (!base || *base == plan.tree_hash)
    return contents;
  const std::optional<std::string> index = s.store.base_index(*base);
  if (!index || !s.store.verify(*base, *index).empty())
    return contents;
  c.base = base;
  install::for_each_indexed(*index, [&](const install::IndexedFile& f) {
    if (f.type == hash::EntryType::file && !f.own)
      contents.insert(f.content);
  });
  return contents;
}

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
    const std::unordered_set<hash::Hash128> in_base = previous_version(s, plan, c);
    for (const cluster::JobPlan::Content& content : plan.contents)
      if ((in_base.count(content.hash) && c.here->recorded(content.hash)) || c.here->has(content.hash))
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
