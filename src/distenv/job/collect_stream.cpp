// One machine's outputs packed, sent, and installed where they are collected.
#include <distenv/job/collect_stream.hpp>

#include <distenv/install/async_install.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/pack/archive_writer.hpp>
#include <distenv/pack/chunks.hpp>
#include <distenv/transport/codec.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/glob.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <map>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::job {

namespace {

constexpr size_t k_chunk = size_t(1) << 20;

transport::Bytes bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Installs one machine's archive as <parent>/<host>, whole or not at all.
void install_outputs(pack::ChunkSource& source, const fs::path& parent, const std::string& host) {
  AtomicDirectory incoming(parent / fmt::format(".incoming-{}-{}", host, ::getpid()), 0755);
  install::extract(source, incoming.dir());
  incoming.commit(parent / host);
}

} // namespace

PackedOutputs::~PackedOutputs() {
  if (!file.empty())
    ::unlink(file.c_str());
}

PackedOutputs pack_outputs(const fs::path& dir, const std::vector<std::string>& globs,
                           const std::string& host) {
  PackedOutputs p;
  p.info.host = host;
  try {
    layout::Tree tree;
    boost::system::error_code ec;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end; !ec && it != end;
         it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode))
        continue;
      const std::string rel = generic(it->path().lexically_relative(dir));
      if (std::none_of(globs.begin(), globs.end(),
                       [&](const std::string& g) { return collect_match(g, rel); }))
        continue;
      if (!S_ISREG(st.st_mode)) {
        ++p.info.skipped;
        continue;
      }
      layout::FileEntry e;
      e.path = rel;
      e.mode = (st.st_mode & 0111) ? 0755 : 0644;
      e.size = static_cast<uint64_t>(st.st_size);
      e.mtime = st.st_mtime;
      e.source = it->path();
      tree.entries.push_back(std::move(e));
    }
    if (ec)
      throw Error(fmt::format("{}: {}", dir.string(), ec.message()));
    if (tree.entries.empty())
      return p;
    layout::add_parent_directories(tree);
    layout::finish_tree(tree, 2, nullptr);
    const fs::path file = dir.parent_path() / fmt::format(".collect-{}-{}.tar.zst", host, ::getpid());
    pack::FileChunkSink sink(file);
    pack::PackOptions po;
    po.chunk_size = k_chunk;
    const pack::PackStats stats = pack::pack_tree(tree, sink, po);
    p.file = file;
    p.info.files = tree.files;
    p.info.bytes = tree.bytes;
    p.info.archive_bytes = stats.archive_bytes;
  } catch (const std::exception& e) {
    p.info.error = e.what();
    p.info.files = p.info.bytes = p.info.archive_bytes = 0;
  }
  return p;
}

void send_outputs(transport::Comm& comm, int to, const PackedOutputs& packed) {
  comm.recv(to, k_tag_results_go, {});
  CollectedMachine head = packed.info;
  std::optional<pack::FileChunkSource> source;
  if (!packed.file.empty() && head.error.empty()) {
    try {
      source.emplace(packed.file, k_chunk);
    } catch (const std::exception& e) {
      head.error = e.what();
    }
  }
  // One tag for the stream: the head (its counts, or why not), then, when
  // it has files, the archive's chunks and an empty one.
  comm.send(to, k_tag_results_data, bytes_of(transport::encode(head)));
  if (!head.error.empty() || !source)
    return;
  try {
    for (pack::Bytes chunk = source->next(); !chunk.empty(); chunk = source->next())
      comm.send(to, k_tag_results_data, chunk);
  } catch (const std::exception&) {
    // The archive ends short: the collecting side says it could not read it.
  }
  comm.send(to, k_tag_results_data, {});
}

namespace {

// One machine's stream being installed on the collecting side.
struct Incoming {
  size_t index = 0; // in the senders
  bool headed = false;
  bool discarding = false; // its install failed (or cannot be): the rest is read and dropped
  std::unique_ptr<install::AsyncInstall> install;
};

} // namespace

report::JobReport::Collected receive_outputs(transport::Comm& comm,
                                             const std::vector<std::pair<int, std::string>>& senders,
                                             const fs::path& into, const std::string& job_id,
                                             const PackedOutputs* own) {
  report::JobReport::Collected c;
  c.job_id = job_id;
  c.dir = (into / job_id).string();
  c.machines.resize(senders.size());
  std::string cannot; // why nothing can be installed here
  try {
    fs::create_directories(into / job_id);
  } catch (const std::exception& e) {
    cannot = e.what();
  }
  const fs::path parent = into / job_id;
  // Several machines stream at once (each installed on a thread of its own),
  // at most k_at_once: memory stays a few chunks per machine.
  constexpr size_t k_at_once = 4;
  std::map<int, Incoming> open; // by rank
  size_t next = 0;
  auto ask_more = [&] {
    for (; next < senders.size() && open.size() < k_at_once; ++next) {
      const auto& [rank, host] = senders[next];
      CollectedMachine& m = c.machines[next];
      if (rank != comm.rank()) {
        comm.send(rank, k_tag_results_go, {});
        open[rank].index = next;
        continue;
      }
      m = own ? own->info : CollectedMachine{}; // this machine's own: from its file
      m.host = host;
      if (own && !own->file.empty() && m.error.empty())
        try {
          if (!cannot.empty())
            throw Error(cannot);
          pack::FileChunkSource source(own->file, k_chunk);
          install_outputs(source, parent, host);
        } catch (const std::exception& e) {
          m.error = e.what();
        }
    }
  };
  ask_more();
  std::vector<std::byte> buffer(k_chunk);
  while (!open.empty()) {
    const transport::Received r = comm.recv(transport::Comm::k_any, k_tag_results_data, buffer);
    const auto at = open.find(r.source);
    if (at == open.end())
      throw transport::CommError(fmt::format("collect: rank {} sent outputs it was not asked for", r.source));
    Incoming& in = at->second;
    CollectedMachine& m = c.machines[in.index];
    const std::string& host = senders[in.index].second;
    bool done = false;
    if (!in.headed) {
      in.headed = true;
      m = transport::decode<CollectedMachine>(
          std::string(reinterpret_cast<const char*>(buffer.data()), r.size));
      m.host = host;
      done = !m.error.empty() || m.files == 0;
      if (!done && !cannot.empty()) {
        m.error = cannot;
        in.discarding = true;
      } else if (!done) {
        in.install = std::make_unique<install::AsyncInstall>(
            [&parent, host](pack::ChunkSource& source) {
              install_outputs(source, parent, host);
              return install::Store::Result{};
            },
            3);
      }
    } else if (r.size == 0) { // the end of its archive
      done = true;
      if (in.install)
        try {
          in.install->sink().close();
          in.install->finish();
        } catch (const std::exception& e) {
          m.error = e.what();
        }
    } else if (!in.discarding) {
      try {
        in.install->sink().put(pack::Bytes(buffer.data(), r.size));
      } catch (const std::exception&) {
        in.discarding = true; // finish() says why
      }
    }
    if (done) {
      open.erase(at);
      ask_more();
    }
  }
  return c;
}

} // namespace distenv::job
