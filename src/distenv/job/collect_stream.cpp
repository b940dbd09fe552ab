// One machine's outputs packed, sent, and installed where they are collected.
#include <distenv/job/collect_stream.hpp>

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

#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::job {

namespace {

constexpr size_t k_chunk = size_t(1) << 20;

transport::Bytes bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::string receive_message(transport::Comm& comm, int from, int tag, size_t limit) {
  std::string buffer(limit, '\0');
  const transport::Received r =
      comm.recv(from, tag, std::as_writable_bytes(std::span(buffer.data(), buffer.size())));
  buffer.resize(r.size);
  return buffer;
}

// The chunks one sender sends, until its empty one.
class ReceivedChunks : public pack::ChunkSource {
public:
  ReceivedChunks(transport::Comm& comm, int from) : m_comm(comm), m_from(from), m_buffer(k_chunk) {}
  pack::Bytes next() override {
    if (m_ended)
      return {};
    const transport::Received r = m_comm.recv(m_from, k_tag_results_data, m_buffer);
    m_ended = r.size == 0;
    return pack::Bytes(m_buffer.data(), r.size);
  }
  // Takes what is left of the stream (the archive's padding, or all of it
  // when installing failed), so that no message stays behind.
  void drain() {
    while (!m_ended)
      next();
  }

private:
  transport::Comm& m_comm;
  int m_from;
  std::vector<std::byte> m_buffer;
  bool m_ended = false;
};

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
    std::set<std::string> parents;
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
      for (size_t at = rel.find('/'); at != std::string::npos; at = rel.find('/', at + 1))
        parents.insert(rel.substr(0, at));
      tree.entries.push_back(std::move(e));
    }
    if (ec)
      throw Error(fmt::format("{}: {}", dir.string(), ec.message()));
    if (tree.entries.empty())
      return p;
    for (const std::string& d : parents) {
      layout::FileEntry e;
      e.path = d;
      e.type = hash::EntryType::directory;
      e.mode = 0755;
      tree.entries.push_back(std::move(e));
    }
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
  comm.send(to, k_tag_results_head, bytes_of(transport::encode(head)));
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

report::JobReport::Collected receive_outputs(transport::Comm& comm,
                                             const std::vector<std::pair<int, std::string>>& senders,
                                             const fs::path& into, const std::string& job_id,
                                             const PackedOutputs* own) {
  report::JobReport::Collected c;
  c.job_id = job_id;
  c.dir = (into / job_id).string();
  std::string cannot; // why nothing can be installed here
  try {
    fs::create_directories(into / job_id);
  } catch (const std::exception& e) {
    cannot = e.what();
  }
  for (const auto& [rank, host] : senders) {
    CollectedMachine m;
    if (rank == comm.rank()) {
      m = own ? own->info : CollectedMachine{};
      m.host = host;
      if (own && !own->file.empty() && m.error.empty() && cannot.empty()) {
        try {
          pack::FileChunkSource source(own->file, k_chunk);
          install_outputs(source, into / job_id, host);
        } catch (const std::exception& e) {
          m.error = e.what();
        }
      }
    } else {
      comm.send(rank, k_tag_results_go, {});
      m = transport::decode<CollectedMachine>(receive_message(comm, rank, k_tag_results_head, 1 << 16));
      m.host = host;
      if (m.error.empty() && m.files > 0) {
        ReceivedChunks chunks(comm, rank);
        try {
          if (!cannot.empty())
            throw Error(cannot);
          install_outputs(chunks, into / job_id, host);
        } catch (const transport::CommError&) {
          throw;
        } catch (const std::exception& e) {
          m.error = e.what();
        }
        chunks.drain();
      }
    }
    if (!cannot.empty() && m.error.empty() && m.files > 0)
      m.error = cannot;
    c.machines.push_back(std::move(m));
  }
  return c;
}

} // namespace distenv::job
