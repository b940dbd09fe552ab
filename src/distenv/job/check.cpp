// Phase check: what each machine's store has of the plan.
#include <distenv/job/check.hpp>

#include <distenv/install/env_index.hpp>
#include <distenv/install/slot.hpp>
#include <distenv/transport/codec.hpp>

#include <functional>

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

// The per-file delta: which of the plan's contents are here already (one
// lstat per object, none for those `in_base` vouches for), the objects held
// for gc until the install that links them is done.
void contents_here(Session& s, const cluster::JobPlan& plan, Checked& c,
                   const std::unordered_set<hash::Hash128>& in_base) {
  c.here = std::make_unique<install::Objects>(s.store.objects_dir(), s.store.link_mode());
  c.here->hold();
  c.here->load();
  for (const cluster::JobPlan::Content& content : plan.contents)
    if ((in_base.count(content.hash) && c.here->recorded(content.hash)) || c.here->has(content.hash))
      c.present.insert(content.hash);
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
    const std::unordered_set<hash::Hash128> in_base = previous_version(s, plan, c);
    contents_here(s, plan, c, in_base);
  }
  return st;
}

cluster::StoreState look_depot(Session& s, const cluster::JobPlan& depot, Checked& c) {
  cluster::StoreState st;
  st.store_id = s.store.identity();
  s.store.open_depot();
  st.has = true;
  for (const std::string& unit : depot.units) {
    c.units_lacking.push_back(s.store.depot_has(unit) ? 0 : 1);
    st.has = st.has && !c.units_lacking.back();
  }
  if (!st.has) {
    install::check_free_space(s.store.depot_dir(), depot.disk_estimate(s.store.block_size()));
    contents_here(s, depot, c, {});
  }
  return st;
}

Checked check_with(Session& s, Phase phase, const std::function<cluster::StoreState(Checked&)>& look) {
  Checked c;
  const std::vector<std::string> replies = s.agree.all_gather([&] {
    s.observe(phase);
    return s.leader() ? transport::encode(look(c)) : std::string();
  });
  for (const cluster::Machine& m : s.machines.all)
    c.states.push_back(transport::decode<cluster::StoreState>(replies[static_cast<size_t>(m.leader)]));
  s.lap(phase);
  return c;
}

} // namespace

Checked check(Session& s, const cluster::JobPlan& plan) {
  return check_with(s, Phase::check, [&](Checked& c) { return look(s, plan, c); });
}

Checked check_depot(Session& s, const cluster::JobPlan& depot) {
  return check_with(s, Phase::depot, [&](Checked& c) { return look_depot(s, depot, c); });
}

} // namespace distenv::job
