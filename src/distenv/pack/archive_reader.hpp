#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/pack/chunk_stream.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

struct archive;

namespace distenv::pack {

using hash::EntryType;

// One entry of a received archive, checked.
struct ArchiveEntry {
  std::string name; // relative, normalised, '/'-separated
  EntryType type = EntryType::file;
  unsigned mode = 0; // as the archive says (install/ decides what it installs)
  time_t mtime = 0;
  std::string link;  // symlinks: the target
  uint64_t size = 0; // files: the declared size of the data that follows
  // Files the packer sent by reference (the per-file delta): content hash
  // and size; no data follows.
  std::optional<std::pair<hash::Hash128, uint64_t>> reference;
  bool mutable_file = false; // distenv.toml `mutable`: a private, writable copy
};

// Reads a tar+zstd stream (libarchive) chunk by chunk, never holding more
// than one chunk. Untrusted input: every entry is checked before it is
// returned, and refused with an InputError (exit 2) naming it ("received
// archive: entry 'x': ..."): absolute names, '..', unnormalised names, hard links, device
// files, FIFOs, setuid/setgid bits, duplicates, entries out of path order
// (the packer sorts them), entries below a symlink and symlinks that could
// resolve outside the tree. Reads only; writing is install/'s.
class ArchiveReader {
public:
  explicit ArchiveReader(ChunkSource& source);
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // The next entry; false at the end of the archive.
  bool next(ArchiveEntry& entry);
  // The current file's data, one block at a time (contiguous: sparse data
  // is refused); false at its end.
  bool read_block(const void*& data, size_t& size);

  struct Context; // what libarchive's read callback sees

private:
  [[noreturn]] void fail(const std::string& where);
  void check(const ArchiveEntry& e);

  std::unique_ptr<Context> m_ctx;
  struct archive* m_in = nullptr;
  uint64_t m_entries = 0, m_offset = 0;
  std::string m_previous;
  std::string m_current;            // the entry whose data read_block returns
  std::set<std::string> m_symlinks; // no entry may lie below one
};

// The check applied to every entry name and symlink target, exposed for tests:
// empty string when acceptable, else why not.
std::string entry_problem(const std::string& path, hash::EntryType type, unsigned mode,
                          const std::string& link_target);

} // namespace distenv::pack
