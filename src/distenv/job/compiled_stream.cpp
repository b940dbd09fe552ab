// The stream of one compile class's caches, from the machine that compiled
// them to the class's other machines.
#include <distenv/job/compile.hpp>

#include <distenv/install/async_install.hpp>
#include <distenv/pack/async_pack.hpp>
#include <distenv/pack/estimate.hpp>
#include <distenv/transport/chunk_broadcast.hpp>
#include <distenv/transport/codec.hpp>

#include <fmt/format.h>

#include <optional>
#include <sstream>
#include <sys/stat.h>
#include <unordered_set>

namespace distenv::job {

namespace {

constexpr size_t k_depth = 3;

// Which receivers (group ranks) lack a cache file the compiler has, or
// hold it otherwise: '1' for those, '0' for the others and the compiler.
std::string lacking(const std::string& own, const std::vector<std::string>& theirs) {
  std::string needs(theirs.size(), '0');
  for (size_t i = 1; i < theirs.size(); ++i) {
    std::istringstream in(theirs[i]);
    std::unordered_set<std::string> held;
    for (std::string line; std::getline(in, line);)
      held.insert(line);
    std::istringstream mine(own);
    for (std::string line; std::getline(mine, line) && needs[i] == '0';)
      needs[i] = held.count(line) ? '0' : '1';
  }
  return needs;
}

// The compiler's cache files that some receiver lacks or holds otherwise
// (size or content differ), with the directories above them.
layout::Tree caches_to_send(const fs::path& dir, const std::string& own,
                            const std::vector<std::string>& theirs) {
  std::vector<std::unordered_set<std::string>> held;
  for (size_t i = 1; i < theirs.size(); ++i) {
    std::unordered_set<std::string> lines;
    std::istringstream in(theirs[i]);
    for (std::string line; std::getline(in, line);)
      lines.insert(line);
    held.push_back(std::move(lines));
  }
  layout::Tree tree;
  std::istringstream in(own);
  for (std::string line; std::getline(in, line);) {
    if (std::all_of(held.begin(), held.end(), [&](const auto& h) { return h.count(line) > 0; }))
      continue;
    std::istringstream fields(line);
    layout::FileEntry e;
    std::string content;
    fields >> e.size >> content;
    std::getline(fields >> std::ws, e.path);
    e.source = dir / e.path;
    struct stat st {};
    if (::stat(e.source.c_str(), &st) == 0)
      e.mtime = st.st_mtime;
    tree.entries.push_back(std::move(e));
  }
  layout::add_parent_directories(tree);
  layout::finish_tree(tree, 2, nullptr);
  return tree;
}

} // namespace

void stream_caches(Session& s, transport::Comm& group, const std::string& cls, std::exception_ptr& failure,
                   ClassReport& report) {
  const bool compiler = group.rank() == 0;
  std::string listing;
  try {
    listing = s.store.compiled_listing(cls);
  } catch (...) {
    failure = std::current_exception();
  }
  const std::vector<std::string> theirs = group.gather(compiler ? std::string() : listing, 0);
  // Who lacks something: only they take part in the stream.
  std::string needs = compiler && !failure ? lacking(listing, theirs) : std::string();
  needs = group.broadcast(needs, 0);
  const bool aborted = needs.size() != size_t(group.size()); // the compiler failed: it says why
  const bool needed = !aborted && needs[size_t(group.rank())] == '1';
  const int receivers = int(std::count(needs.begin(), needs.end(), '1'));
  // A compiler that failed streams nothing but an abort, to everyone.
  std::unique_ptr<transport::Comm> sub = group.split(compiler || needed || aborted ? 0 : -1);
  report.receivers = receivers;
  if (!sub || sub->size() == 1)
    return;
  std::optional<layout::Tree> tree;
  if (compiler && !failure) {
    try {
      std::vector<std::string> held{std::string()};
      for (size_t i = 1; i < theirs.size(); ++i)
        if (needs[i] == '1')
          held.push_back(theirs[i]);
      tree.emplace(caches_to_send(s.store.julia_dir() / cls, listing, held));
    } catch (...) {
      failure = std::current_exception();
    }
  }
  uint64_t files = tree ? tree->files : 0, bytes = tree ? tree->bytes : 0;
  transport::BroadcastPlan how;
  if (compiler)
    how = transport::plan_broadcast(sub->size(),
                                    tree ? pack::estimate_archive_bytes(*tree, {}, s.options.zstd_level) : 0,
                                    s.options.broadcast, s.options.chunk_size);
  std::istringstream head(sub->broadcast(compiler ? fmt::format("{} {}", files, bytes) : std::string(), 0));
  head >> files >> bytes;
  if (!files && !aborted)
    return;
  how = transport::broadcast_value(*sub, how, 0);
  std::optional<install::AsyncInstall> installer;
  std::optional<pack::AsyncPack> packer;
  try {
    if (!compiler && !failure)
      installer.emplace(
          [&s, &cls, bytes](pack::ChunkSource& source) {
            return s.store.install_compiled(cls, bytes + bytes / 8 + (uint64_t(1) << 20), source);
          },
          k_depth);
    if (compiler && !failure) {
      pack::PackOptions po;
      po.chunk_size = how.chunk;
      po.zstd_level = s.options.zstd_level;
      po.zstd_threads = s.options.zstd_threads;
      packer.emplace(*tree, po, k_depth);
    }
  } catch (...) {
    failure = std::current_exception();
    installer.reset();
  }
  pack::FailedSource failed(failure);
  const transport::BroadcastResult res =
      transport::broadcast_stream(*sub, how, compiler ? (packer ? &packer->source() : &failed) : nullptr,
                                  installer ? &installer->sink() : nullptr);
  try {
    if (packer)
      packer->finish();
    if (installer) {
      if (!res.complete)
        return; // the compiler says why; ~AsyncInstall leaves nothing behind
      if (res.sink_error)
        installer->abort(res.sink_error);
      installer->finish();
    }
  } catch (...) {
    if (!failure)
      failure = std::current_exception();
  }
  report.files = files;
  report.bytes = bytes;
  report.archive_bytes = res.bytes;
}

} // namespace distenv::job
