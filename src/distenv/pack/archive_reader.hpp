#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/pack/chunks.hpp>

#include <functional>

#include <boost/filesystem/path.hpp>

namespace distenv::pack {

using hash::EntryType;

struct ExtractResult {
  hash::Hash128 tree_hash; // of what was written, computed as it was written
  uint64_t entries = 0;
  uint64_t files = 0;
  uint64_t bytes = 0; // content bytes written (symlinks: target length)
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

// Unpacks a tar+zstd stream chunk by chunk into `dest` (an existing, empty
// directory), never holding more than one chunk. Untrusted input: absolute
// names, '..', paths through or symlinks out of the tree, hard links, device
// files, FIFOs, setuid/setgid bits and duplicate names are refused with an
// Error naming the entry. On error, what was written stays in `dest` for the
// caller to remove (install/ does, with the whole temporary directory).
ExtractResult extract(ChunkSource& source, const boost::filesystem::path& dest, LocalFiles* local = nullptr,
                      const FileCallback& on_file = {});

// The check applied to every entry name and symlink target, exposed for tests:
// empty string when acceptable, else why not.
std::string entry_problem(const std::string& path, hash::EntryType type, unsigned mode,
                          const std::string& link_target);

} // namespace distenv::pack
