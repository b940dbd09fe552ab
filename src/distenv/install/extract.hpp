#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/pack/chunk_stream.hpp>

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace distenv::install {

struct ExtractResult {
  hash::Hash128 tree_hash; // of what was written, computed as it was written
  uint64_t entries = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;                        // content bytes written (symlinks: target length)
  uint64_t local_files = 0, local_bytes = 0; // of those: filled from local copies
  uint64_t kept_files = 0, kept_bytes = 0;   // assembled in place: files of the previous version that stayed
};

// Where an install's files come from and go (the store's objects: the
// per-file delta and the link modes, install/objects.hpp).
class LocalFiles {
public:
  virtual ~LocalFiles() = default;
  // Makes `path` (new) hold content `hash` (`size` bytes) from what is here
  // (a stream sends it by reference); Error when it is not here as it should be.
  // `own`: a private, writable copy (distenv.toml `mutable`), never a link.
  virtual void place(const hash::Hash128& hash, uint64_t size, bool executable, const std::string& path,
                     const std::string& entry, bool own) = 0;
  // The file the stream just wrote at `path` (final mode and time) holds `hash`.
  virtual void adopt(const hash::Hash128& hash, uint64_t size, bool executable, const std::string& path,
                     const std::string& entry, bool own) = 0;
  // The mode a new file of the tree gets (git's 0644/0755 in).
  virtual unsigned file_mode(unsigned mode, bool own) const = 0;
};

// Told of every entry an install writes, once it is there (the store's
// content index); `own`: a mutable file (a private copy the job may change).
using EntryCallback = std::function<void(const hash::TreeRecord& record, bool own)>;

// Installs a received tar+zstd stream (pack::ArchiveReader checks every
// entry) into `dest`, an existing, empty directory: directories, files (from
// the stream, or by reference from `local`) and symlinks, each created new
// (O_EXCL, never through a symlink) with the packer's modes (0644/0755,
// whatever the archive says, less what `local` takes off) and the archive's
// mtimes (a file placed from `local` keeps its object's). Each entry's declared
// size is checked against the free space before its data is written. On
// error, what was written stays in `dest` for the caller to remove (the
// store does, with the whole temporary directory).
ExtractResult extract(pack::ChunkSource& source, const boost::filesystem::path& dest,
                      LocalFiles* local = nullptr, const EntryCallback& on_entry = {});

} // namespace distenv::install
