// tar+zstd writer (libarchive) over a chunk sink.
#include <distenv/pack/archive_writer.hpp>

#include <distenv/pack/zstd_writer.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/util/varint.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <fcntl.h>
#include <memory>
#include <thread>
#include <unistd.h>
#include <unordered_set>

namespace distenv::pack {

namespace {

// Every 8 MiB of tar, an adaptive level looks at the waits.
constexpr uint64_t k_look_every = uint64_t(8) << 20;

struct WriteContext {
  Chunker chunker;
  ZstdWriter zstd;
  std::exception_ptr failure;
};

la_ssize_t write_cb(struct archive*, void* client, const void* buf, size_t len) {
  auto* ctx = static_cast<WriteContext*>(client);
  try {
    ctx->zstd.write(buf, len);
    return static_cast<la_ssize_t>(len);
  } catch (...) {
    ctx->failure = std::current_exception();
    return -1;
  }
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

class Writer {
public:
  Writer(ChunkSink& sink, const PackOptions& options)
      : m_ctx{Chunker(sink, options.chunk_size),
              ZstdWriter(m_ctx.chunker, options.zstd_level, options.zstd_threads), nullptr},
        m_archive(archive_write_new()), m_send(options.send), m_progress(options.progress),
        m_control(options.zstd_level, 1, std::max(9, options.zstd_level),
                  std::thread::hardware_concurrency()) {
    if (options.adapt && options.pressure)
      m_pressure = options.pressure;
    struct archive* a = m_archive.get();
    // The tar goes to m_ctx.zstd (its level may change on the way).
    check(archive_write_set_format_pax_restricted(a), "tar format");
    check(archive_write_set_bytes_per_block(a, 0), "block size");
    check(archive_write_open2(a, &m_ctx, nullptr, write_cb, nullptr, nullptr), "open");
  }

  void add(const layout::FileEntry& e) {
    struct archive_entry* entry = m_entry.get();
    archive_entry_clear(entry);
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, e.mode);
    archive_entry_set_mtime(entry, e.mtime, 0);
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
    switch (e.type) {
    case EntryType::directory:
      archive_entry_set_filetype(entry, AE_IFDIR);
      archive_entry_set_size(entry, 0);
      break;
    case EntryType::symlink:
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_set_symlink(entry, e.link_target.c_str());
      archive_entry_set_size(entry, 0);
      break;
    default:
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.size));
    }
    if (e.mutable_file)
      archive_entry_xattr_add_entry(entry, k_mutable_xattr, "", 0);
    const bool by_reference = e.type == EntryType::file && m_send && !m_send(e.hash);
    if (by_reference) {
      std::string mark;
      put_u64(mark, e.hash.high);
      put_u64(mark, e.hash.low);
      put_u64(mark, e.size);
      archive_entry_set_size(entry, 0);
      archive_entry_xattr_add_entry(entry, k_local_xattr, mark.data(), mark.size());
    }
    check(archive_write_header(m_archive.get(), entry), e.path);
    ++m_stats.entries;
    if (by_reference) {
      ++m_stats.referenced_files;
      m_stats.referenced_bytes += e.size;
      return;
    }
    if (e.type != EntryType::file)
      return;
    if (e.content)
      write_data(e.content->data(), e.content->size(), e.path);
    else
      write_file(e);
    m_stats.content_bytes += e.size;
    if (m_progress)
      m_progress(m_stats.content_bytes);
    if (m_pressure && m_ctx.zstd.bytes_in() >= m_next_look) {
      m_next_look = m_ctx.zstd.bytes_in() + k_look_every;
      if (m_control.look(m_pressure()))
        m_ctx.zstd.set_level(m_control.level(), m_control.threads());
    }
  }

  PackStats finish() {
    check(archive_write_close(m_archive.get()), "close");
    m_ctx.zstd.finish();
    m_ctx.chunker.finish();
    m_stats.levels = m_control.history();
    m_stats.archive_bytes = m_ctx.chunker.bytes();
    return m_stats;
  }

private:
  void check(int rc, const std::string& what) {
    if (rc == ARCHIVE_OK || rc == ARCHIVE_WARN)
      return;
    if (m_ctx.failure)
      std::rethrow_exception(m_ctx.failure);
    const char* msg = archive_error_string(m_archive.get());
    throw Error(fmt::format("packing {}: {}", what, msg ? msg : "libarchive error"));
  }

  void write_data(const void* data, size_t size, const std::string& path) {
    la_ssize_t n = archive_write_data(m_archive.get(), data, size);
    if (n < 0 || static_cast<size_t>(n) != size)
      check(ARCHIVE_FATAL, path);
  }

  void write_file(const layout::FileEntry& e) {
    const Fd file(::open(e.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file)
      throw Error(fmt::format("{}: {}", e.source.string(), errno_text(errno)));
    const int fd = file.get();
    hash::Hasher hasher;
    uint64_t done = 0;
    while (done < e.size) {
      check_stop(); // a large file is not waited for: the receivers abort and remove what they made
      size_t want = static_cast<size_t>(std::min<uint64_t>(m_buffer.size(), e.size - done));
      const ssize_t n = read_some(fd, m_buffer.data(), want);
      if (n < 0)
        throw Error(fmt::format("{}: {}", e.source.string(), errno_text(errno)));
      if (n == 0)
        break;
      hasher.update(m_buffer.data(), static_cast<size_t>(n));
      write_data(m_buffer.data(), static_cast<size_t>(n), e.path);
      done += static_cast<uint64_t>(n);
      if (m_progress && done < e.size)
        m_progress(m_stats.content_bytes + done); // a large file reports as it goes
    }
    char extra;
    if (done != e.size || read_some(fd, &extra, 1) != 0 || !(hasher.digest() == e.hash))
      throw Error(fmt::format("{}: changed while it was being packed; run again", e.source.string()));
  }

  WriteContext m_ctx;
  std::unique_ptr<struct archive, ArchiveDeleter> m_archive;
  std::unique_ptr<struct archive_entry, EntryDeleter> m_entry{archive_entry_new()};
  std::vector<char> m_buffer = std::vector<char>(1 << 20);
  std::function<bool(const hash::Hash128&)> m_send;
  std::function<void(uint64_t)> m_progress;
  LevelControl m_control;
  std::function<ChunkPipe::Waits()> m_pressure; // set: the level adapts
  uint64_t m_next_look = k_look_every;
  PackStats m_stats;
};

} // namespace

PackStats pack_tree(const layout::Tree& tree, ChunkSink& sink, const PackOptions& options) {
  Writer writer(sink, options);
  std::unordered_set<hash::Hash128> sent;
  for (const layout::FileEntry& e : tree.entries) {
    check_stop();
    if (options.contents_only &&
        (e.type != EntryType::file || (options.send && !options.send(e.hash)) || !sent.insert(e.hash).second))
      continue;
    writer.add(e);
  }
  return writer.finish();
}

} // namespace distenv::pack
