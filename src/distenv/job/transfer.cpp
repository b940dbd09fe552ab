// Phase transfer: pack, broadcast, install where the environment is missing.
#include <distenv/job/transfer.hpp>

#include <distenv/install/async_install.hpp>
#include <distenv/pack/async_pack.hpp>
#include <distenv/pack/estimate.hpp>
#include <distenv/report/progress.hpp>
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/transport/codec.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <unordered_set>

namespace distenv::job {

namespace {

constexpr size_t k_depth = 3; // chunks in flight per stage: memory is a few chunks
// Rank 0 also installs what it sends: its own installer gets up to this much
// of the stream ahead, so that a slow local install (rank 0 packs too) does
// not hold the stream back from the other machines. A delta's whole stream
// usually fits: the others install while rank 0 still does.
constexpr size_t k_root_install_buffer = size_t(16) << 20;
// After the stream, each receiver tells rank 0 whether it installed (1 byte).
constexpr int k_tag_installed = 0x6410;

// One stream to a group: what every rank of it needs.
struct Stream {
  Session& s;
  transport::Comm& group;
  const cluster::JobPlan& plan;
  const layout::Tree* tree; // rank 0
  Checked& checked;
  bool receiving = false;
  std::unordered_set<hash::Hash128> everyone_has; // rank 0: contents not sent
  install::Listing listing;                       // the tree, as the receivers make it
  std::exception_ptr failure;                     // this rank has failed: it still takes its part
  Transferred& out;
  const std::vector<std::string>* units = nullptr; // a depot's: the units sent (install/depot.cpp)

  bool sends(const hash::Hash128& h) const { return everyone_has.count(h) == 0; }
};

// Which contents at least one receiver lacks: one bit per distinct content
// of the plan, OR-reduced over every rank (a collective every rank reaches
// after the agreed check; those that do not receive give zeros). Rank 0
// learns which contents every receiver has.
std::unordered_set<hash::Hash128> everyone_has(Session& s, const cluster::JobPlan& plan, const Checked& c,
                                               bool receiving) {
  std::string lacking((plan.contents.size() + 7) / 8, '\0');
  if (receiving)
    for (size_t i = 0; i < plan.contents.size(); ++i)
      if (!c.present.count(plan.contents[i].hash))
        lacking[i / 8] = static_cast<char>(lacking[i / 8] | (1 << (i % 8)));
  lacking = s.ctx.world.all_or(lacking);
  std::unordered_set<hash::Hash128> all;
  if (s.root())
    for (size_t i = 0; i < plan.contents.size(); ++i)
      if (!(lacking[i / 8] & (1 << (i % 8))))
        all.insert(plan.contents[i].hash);
  return all;
}

// Rank 0 decides from the archive's estimated size (a compressed sample of
// what is to be sent) and the group's size, unless --broadcast and
// --chunk-size both say, and tells the group. A rank 0 that has failed
// still tells (the stream then aborts).
transport::BroadcastPlan agree_broadcast(Stream& st) {
  transport::BroadcastPlan plan;
  const cli::Options& o = st.s.options;
  if (st.s.root()) {
    uint64_t estimate = 0;
    if (!st.failure && (!o.broadcast || !o.chunk_size)) {
      try {
        estimate = pack::estimate_archive_bytes(
            *st.tree, [&st](const hash::Hash128& h) { return st.sends(h); }, o.zstd_level);
      } catch (...) {
        st.failure = std::current_exception();
      }
    }
    if (!st.failure || o.broadcast || o.chunk_size)
      plan = transport::plan_broadcast(st.group.size(), estimate, o.broadcast, o.chunk_size);
  }
  return transport::broadcast_value(st.group, plan, 0);
}

void make_progress(Stream& st, std::optional<report::Progress>& progress) {
  if (!st.s.root() || !st.s.ctx.progress)
    return;
  uint64_t total = 0;
  for (const layout::FileEntry& e : st.tree->entries)
    if (e.type == hash::EntryType::file && st.sends(e.hash))
      total += e.size;
  // The other machines it goes to (rank 0's own install is the summary's
  // "installed here too").
  const int others = st.group.size() - 1;
  progress.emplace(st.s.ctx.progress, report::Progress::style_for(st.s.ctx.progress, st.s.options.quiet),
                   others > 0 ? fmt::format("sending to {} machine{}", others, others == 1 ? "" : "s")
                              : std::string("installing here"),
                   total, others, st.s.ctx.progress_interval);
}

// This machine's end of the stream: the packer's or the installer's.
// Whether the environment is now installed here.
bool finish_stream(Stream& st, const transport::BroadcastResult& r,
                   std::optional<install::AsyncInstall>& installer, std::optional<pack::AsyncPack>& packer,
                   Clock::time_point start) {
  Transferred& t = st.out;
  if (st.s.root()) {
    t.archive_bytes = r.bytes;
    const pack::PackStats packed = packer->finish();
    const pack::ChunkPipe::Waits w = packer->waits();
    t.stream_waits = fmt::format("zstd level {}; the network waited {:.2f} s for packing, packing {:.2f} s "
                                 "for the network; ",
                                 packed.levels, w.consumer, w.producer);
  } else {
    t.bytes_received = r.bytes;
    if (!r.complete)
      return false; // rank 0 says why; ~AsyncInstall leaves nothing behind
  }
  if (!installer)
    return false;
  if (r.sink_error)
    installer->abort(r.sink_error);
  const install::Store::Result done = installer->finish();
  const pack::ChunkPipe::Waits w = installer->waits();
  t.stream_waits +=
      fmt::format("the install waited {:.2f} s for the stream, the stream {:.2f} s for the install",
                  w.consumer, w.producer);
  t.in_use = done.in_use;
  t.install = done.reused ? report::Install::reused : report::Install::received;
  t.local_files = done.local_files;
  t.local_bytes = done.local_bytes;
  t.kept_files = done.kept_files;
  t.kept_bytes = done.kept_bytes;
  t.repaired = done.repaired;
  st.checked.here.reset(); // a gc during the job may remove objects now
  t.install_seconds = seconds_since(start);
  if (st.s.root())
    t.bytes_received = done.reused ? 0 : t.archive_bytes;
  return true;
}

// Rank 0 counts the machines that have installed (its progress line);
// every receiver tells it, whatever happened there, so it waits for none
// that will not tell.
void count_installed(Stream& st, bool installed, std::optional<report::Progress>& progress, bool failed) {
  if (!st.s.root()) {
    const std::byte done{installed ? uint8_t(1) : uint8_t(0)};
    st.group.send(0, k_tag_installed, transport::Bytes(&done, 1));
    return;
  }
  for (int i = 1; i < st.group.size(); ++i) {
    std::byte done{};
    st.group.recv(transport::Comm::k_any, k_tag_installed, transport::MutableBytes(&done, 1));
    if (progress && done == std::byte{1})
      progress->installed();
  }
  if (progress && !failed)
    progress->finish();
}

// The pipelined broadcast from rank 0 to the receiving machines, each of
// which installs while the stream passes through. A rank that has failed
// still takes its part, so that nobody waits for it: rank 0 tells everyone
// to abort, a receiver forwards without installing.
// The listing of the tree, from rank 0 to the group: each receiver makes
// the tree from it and the contents it lacks (install/assemble.hpp). Every
// rank takes part; a rank 0 that has failed sends none (the stream aborts).
void agree_listing(Stream& st) {
  std::string bytes;
  if (st.s.root() && !st.failure) {
    try {
      st.listing = install::listing_of(*st.tree);
      bytes = install::encode_listing(st.listing);
    } catch (...) {
      st.failure = std::current_exception();
      st.listing.clear();
      bytes.clear();
    }
  }
  bytes = st.group.broadcast(bytes, 0);
  if (!st.s.root() && st.receiving && !st.failure && !bytes.empty()) {
    try {
      st.listing = install::decode_listing(bytes);
    } catch (...) {
      st.failure = std::current_exception();
    }
  }
}

void stream(Stream& st) {
  const auto start = Clock::now();
  agree_listing(st);
  const transport::BroadcastPlan how = agree_broadcast(st);
  st.out.algorithm = transport::method_name(how.method);
  st.out.chunk_bytes = how.chunk;
  std::optional<install::AsyncInstall> installer;
  std::optional<report::Progress> progress; // rank 0, before the packer that reports to it
  std::optional<pack::AsyncPack> packer;
  if (!st.failure) {
    try {
      if (st.receiving && !st.listing.empty())
        installer.emplace(
            [&st, disk = st.plan.disk_estimate(st.s.store.block_size())](pack::ChunkSource& source) {
              if (st.units)
                return st.s.store.install_depot(st.listing, *st.units, disk, source, st.checked.here.get());
              return st.s.store.assemble(st.plan.tree_hash, st.listing, st.checked.base, disk, source,
                                         st.checked.here.get());
            },
            st.s.root() ? std::max(k_depth, k_root_install_buffer / std::max<size_t>(how.chunk, 1)) : k_depth,
            [&st](uint64_t bytes) {
              if (st.s.ctx.observer)
                st.s.ctx.observer->installed(bytes);
            });
      if (st.s.root()) {
        pack::PackOptions po;
        po.chunk_size = how.chunk;
        po.zstd_level = st.s.options.zstd_level;
        po.zstd_threads = st.s.options.zstd_threads;
        po.adapt = st.s.options.zstd_adapt;
        po.send = [&st](const hash::Hash128& h) { return st.sends(h); };
        po.contents_only = true;
        make_progress(st, progress);
        if (progress)
          po.progress = [&progress](uint64_t done) { progress->update(done); };
        packer.emplace(*st.tree, po, k_depth);
      }
    } catch (...) {
      st.failure = std::current_exception();
      installer.reset();
    }
  }
  pack::FailedSource failed(st.failure);
  pack::ChunkSource* source = st.s.root() ? (packer ? &packer->source() : &failed) : nullptr;
  const transport::BroadcastResult r =
      transport::broadcast_stream(st.group, how, source, installer ? &installer->sink() : nullptr);
  bool installed = false;
  if (!st.failure) {
    try {
      installed = finish_stream(st, r, installer, packer, start);
    } catch (...) {
      st.failure = std::current_exception();
    }
  }
  count_installed(st, installed, progress, st.failure != nullptr);
  if (st.failure)
    std::rethrow_exception(st.failure);
  st.out.seconds = seconds_since(start);
}

// A depot's units that at least one receiver lacks: one bit per unit,
// OR-reduced over every rank (as everyone_has).
std::vector<std::string> units_sent(Session& s, const cluster::JobPlan& plan, const Checked& c,
                                    bool receiving) {
  std::string lacking((plan.units.size() + 7) / 8, '\0');
  if (receiving)
    for (size_t i = 0; i < plan.units.size() && i < c.units_lacking.size(); ++i)
      if (c.units_lacking[i])
        lacking[i / 8] = static_cast<char>(lacking[i / 8] | (1 << (i % 8)));
  lacking = s.ctx.world.all_or(lacking);
  std::vector<std::string> sent;
  for (size_t i = 0; i < plan.units.size(); ++i)
    if (lacking[i / 8] & (1 << (i % 8)))
      sent.push_back(plan.units[i]);
  return sent;
}

// The part of a depot's tree that is sent: the `units` (sorted) and the
// directories above them.
layout::Tree sent_part(const layout::Tree& tree, const std::vector<std::string>& units) {
  layout::Tree part;
  std::unordered_set<std::string> parents;
  for (const std::string& u : units)
    for (size_t at = u.find('/'); at != std::string::npos; at = u.find('/', at + 1))
      parents.insert(u.substr(0, at));
  for (const layout::FileEntry& e : tree.entries) {
    const auto after = std::upper_bound(units.begin(), units.end(), e.path);
    const bool inside = after != units.begin() &&
                        (e.path == *std::prev(after) ||
                         e.path.compare(0, std::prev(after)->size() + 1, *std::prev(after) + "/") == 0);
    if (inside || parents.count(e.path)) {
      part.entries.push_back(e);
      if (e.type != hash::EntryType::directory) {
        ++part.files;
        part.bytes += e.size;
      }
    }
  }
  part.tree_hash = tree.tree_hash;
  return part;
}

} // namespace

Transferred transfer(Session& s, const cluster::JobPlan& plan, const layout::Tree* tree, Checked& checked,
                     Phase phase) {
  Transferred t;
  t.in_use = checked.in_use; // replaced by the install's where one happens
  const std::vector<int> receivers = cluster::choose_receivers(checked.states);
  t.receivers = static_cast<int>(receivers.size());
  const bool receiving = s.leader() && std::count(receivers.begin(), receivers.end(), s.self()) > 0;
  if (!checked.states[static_cast<size_t>(s.self())].has && !receiving)
    t.install = report::Install::shared;
  // Every rank takes part in these collectives, outside the step: a
  // collective that only some ranks reach would never end.
  std::unique_ptr<transport::Comm> group;
  std::unordered_set<hash::Hash128> all_have;
  std::vector<std::string> units;
  std::optional<layout::Tree> part; // rank 0, a depot: what is sent of it
  if (!receivers.empty()) {
    all_have = everyone_has(s, plan, checked, receiving);
    if (!plan.units.empty()) {
      units = units_sent(s, plan, checked, receiving);
      t.units_sent = units.size();
      if (tree)
        tree = &part.emplace(sent_part(*tree, units));
    }
    group = s.ctx.world.split(s.root() || receiving ? 0 : -1);
  }
  s.agree.phase([&] {
    std::exception_ptr failure;
    try {
      s.observe(phase);
    } catch (...) {
      failure = std::current_exception();
    }
    if (!group && failure)
      std::rethrow_exception(failure);
    if (group) {
      Stream st{s, *group, plan, tree, checked, receiving, std::move(all_have), {}, failure, t};
      if (!plan.units.empty())
        st.units = &units;
      stream(st);
    }
  });
  s.lap(phase);
  return t;
}

} // namespace distenv::job
