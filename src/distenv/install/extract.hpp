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
};

// Where an install finds the contents a stream sends by reference (the
// per-file delta): copy_to writes content `hash` (`size` bytes) to `fd`,
// or throws Error when it does not hold it as it should.
class LocalFiles {
public:
  virtual ~LocalFiles() = default;
  virtual void copy_to(const hash::Hash128& hash, uint64_t size, int fd, const std::string& entry) = 0;
};

// Told of every regular file an install writes (the store's content index).
using FileCallback = std::function<void(const hash::Hash128& hash, uint64_t size, const std::string& path)>;

// Installs a received tar+zstd stream (pack::ArchiveReader checks every
// entry) into `dest`, an existing, empty directory: directories, files (from
// the stream, or by reference from `local`) and symlinks, each created new
// (O_EXCL, never through a symlink) with the packer's modes (0644/0755,
// whatever the archive says) and the archive's mtimes. Each entry's declared
// size is checked against the free space before its data is written. On
// error, what was written stays in `dest` for the caller to remove (the
// store does, with the whole temporary directory).
ExtractResult extract(pack::ChunkSource& source, const boost::filesystem::path& dest,
                      LocalFiles* local = nullptr, const FileCallback& on_file = {});

} // namespace distenv::install
