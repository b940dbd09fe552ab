// Reading a received tar+zstd stream (libarchive), every entry checked.
#include <distenv/pack/archive_reader.hpp>

#include <distenv/pack/archive_writer.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/paths.hpp>
#include <distenv/util/varint.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <cstring>
#include <exception>
#include <vector>

namespace distenv::pack {

struct ArchiveReader::Context {
  ChunkSource& source;
  std::exception_ptr failure;
};

namespace {

la_ssize_t read_cb(struct archive*, void* client, const void** buf) {
  auto* ctx = static_cast<ArchiveReader::Context*>(client);
  try {
    Bytes chunk = ctx->source.next();
    *buf = chunk.data();
    return static_cast<la_ssize_t>(chunk.size());
  } catch (...) {
    ctx->failure = std::current_exception();
    return -1;
  }
}

// Splits "a/b/c" into components; false on empty, ".", ".." components.
bool clean_components(const std::string& path, std::vector<std::string>& parts) {
  parts.clear();
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos)
      slash = path.size();
    std::string part = path.substr(start, slash - start);
    if (part.empty() && slash == path.size() && !parts.empty())
      break; // "dir/" as written by some tar writers
    if (part.empty() || part == "." || part == "..")
      return false;
    parts.push_back(part);
    start = slash + 1;
  }
  return !parts.empty();
}

// Whether the packer marked the file mutable.
bool marked_mutable(struct archive_entry* entry) {
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
    if (name && std::string_view(name) == k_mutable_xattr)
      return true;
  return false;
}

// A file the packer sent by reference: its content hash and size.
std::optional<std::pair<hash::Hash128, uint64_t>> reference(struct archive_entry* entry) {
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
    if (name && std::string_view(name) == k_local_xattr && size == 24) {
      const std::string_view v(static_cast<const char*>(value), size);
      size_t at = 0;
      hash::Hash128 h;
      h.high = get_u64(v, at);
      h.low = get_u64(v, at);
      return std::make_pair(h, get_u64(v, at));
    }
  return std::nullopt;
}

EntryType type_of(struct archive_entry* entry, const std::string& name) {
  if (archive_entry_hardlink(entry))
    throw InputError(fmt::format("received archive: entry '{}': hard links are not allowed", name));
  switch (archive_entry_filetype(entry)) {
  case AE_IFREG:
    return EntryType::file;
  case AE_IFDIR:
    return EntryType::directory;
  case AE_IFLNK:
    return EntryType::symlink;
  case AE_IFCHR:
  case AE_IFBLK:
    throw InputError(fmt::format("received archive: entry '{}': device files are not allowed", name));
  case AE_IFIFO:
    throw InputError(fmt::format("received archive: entry '{}': named pipes are not allowed", name));
  default:
    throw InputError(fmt::format("received archive: entry '{}': this file type is not allowed", name));
  }
}

} // namespace

std::string entry_problem(const std::string& path, EntryType type, unsigned mode,
                          const std::string& link_target) {
  if (path.empty())
    return "empty name";
  if (path.front() == '/')
    return "absolute path";
  std::vector<std::string> parts;
  if (!clean_components(path, parts))
    return path.find("..") != std::string::npos ? "path leaves the install directory ('..')"
                                                : "path is not normalized";
  if (mode & 06000)
    return "setuid/setgid bit";
  if (type == EntryType::symlink)
    return symlink_problem(path, link_target);
  return {};
}

ArchiveReader::ArchiveReader(ChunkSource& source)
    : m_ctx(std::make_unique<Context>(Context{source, nullptr})), m_in(archive_read_new()) {
  archive_read_support_filter_zstd(m_in);
  archive_read_support_format_tar(m_in);
  if (archive_read_open(m_in, m_ctx.get(), nullptr, read_cb, nullptr) != ARCHIVE_OK)
    fail("cannot open");
}

ArchiveReader::~ArchiveReader() {
  archive_read_free(m_in);
}

void ArchiveReader::fail(const std::string& where) {
  if (m_ctx->failure)
    std::rethrow_exception(m_ctx->failure);
  const char* msg = archive_error_string(m_in);
  std::string why = msg ? msg : "libarchive error";
  if (const int err = archive_errno(m_in); err > 0 && why.find(std::strerror(err)) == std::string::npos)
    why += ": " + errno_text(err);
  throw Error(fmt::format("received archive: {}: {}", where, why));
}

// Entries arrive sorted by path (the packer writes them so), which lets the
// tree hash be computed as they pass and makes duplicates adjacent: memory
// stays flat however many entries there are.
void ArchiveReader::check(const ArchiveEntry& e) {
  const std::string& name = e.name;
  if (std::string why = entry_problem(name, e.type, e.mode, e.link); !why.empty())
    throw InputError(fmt::format("received archive: entry '{}': {}", name, why));
  if (m_entries > 0 && name == m_previous)
    throw InputError(fmt::format("received archive: entry '{}': appears twice", name));
  if (m_entries > 0 && name < m_previous)
    throw InputError(
        fmt::format("received archive: entry '{}': out of order (after '{}'); distenv archives are "
                    "sorted by path",
                    name, m_previous));
  for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
    if (m_symlinks.count(name.substr(0, slash)))
      throw InputError(fmt::format("received archive: entry '{}': lies below the symlink '{}'", name,
                                   name.substr(0, slash)));
  if (e.type == EntryType::symlink)
    m_symlinks.insert(name);
}

bool ArchiveReader::next(ArchiveEntry& e) {
  struct archive_entry* entry = nullptr;
  const int rc = archive_read_next_header(m_in, &entry);
  if (rc == ARCHIVE_EOF)
    return false;
  if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
    fail("reading entry header");
  const char* raw_name = archive_entry_pathname(entry);
  e.name = raw_name ? raw_name : "";
  if (!e.name.empty() && e.name.back() == '/')
    e.name.pop_back();
  e.type = type_of(entry, e.name);
  e.mode = archive_entry_perm(entry);
  e.mtime = archive_entry_mtime(entry);
  const char* raw_link = archive_entry_symlink(entry);
  e.link = e.type == EntryType::symlink && raw_link ? raw_link : "";
  e.reference = e.type == EntryType::file ? reference(entry) : std::nullopt;
  e.mutable_file = e.type == EntryType::file && marked_mutable(entry);
  if (e.type == EntryType::file && !e.reference && archive_entry_size_is_set(entry) == 0)
    throw InputError(fmt::format("received archive: entry '{}': no size", e.name));
  e.size = e.type == EntryType::file && !e.reference ? static_cast<uint64_t>(archive_entry_size(entry)) : 0;
  check(e);
  m_previous = e.name;
  m_current = e.name;
  m_offset = 0;
  ++m_entries;
  return true;
}

bool ArchiveReader::read_block(const void*& data, size_t& size) {
  la_int64_t offset = 0;
  const int r = archive_read_data_block(m_in, &data, &size, &offset);
  if (r == ARCHIVE_EOF)
    return false;
  if (r != ARCHIVE_OK)
    fail(fmt::format("entry '{}'", m_current));
  if (static_cast<uint64_t>(offset) != m_offset)
    throw InputError(fmt::format("received archive: entry '{}': sparse data not allowed", m_current));
  m_offset += size;
  return true;
}

} // namespace distenv::pack
