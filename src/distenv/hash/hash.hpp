#pragma once

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct XXH3_state_s;

namespace distenv::hash {

// An XXH3-128 digest. hex() is the environment's identity in the store.
struct Hash128 {
  uint64_t high = 0;
  uint64_t low = 0;

  std::string hex() const;
  static std::optional<Hash128> from_hex(std::string_view text);
  bool operator==(const Hash128&) const = default;
};

// Streaming XXH3-128.
class Hasher {
public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, size_t size);
  Hash128 digest() const;

private:
  XXH3_state_s* m_state;
};

Hash128 hash_bytes(std::string_view data);

// Content hash of a file read in fixed-size blocks; `size` gets the bytes read.
// Throws Error "path: OS error" when it cannot be read.
Hash128 hash_file(const boost::filesystem::path& path, uint64_t& size);

// What an entry of a tree is. The values are the bytes the tree hash
// records, so they never change.
enum class EntryType : char { file = 'f', directory = 'd', symlink = 'l' };

// One entry of a tree as the identity sees it: no mtimes, no owners, no order.
struct TreeRecord {
  std::string path; // '/'-separated, relative to the install root
  EntryType type = EntryType::file;
  uint32_t mode = 0;
  uint64_t size = 0;
  Hash128 content; // files: content, symlinks: target, directories: zero
};

// The tree hash over (path, type, mode, size, content hash) of every record,
// sorted by path first, so that directory-walk order never changes it.
Hash128 tree_hash(std::vector<TreeRecord> records);

// The same hash, record by record, for records that arrive sorted by path
// (as the packer writes them): memory does not grow with the tree.
class TreeHasher {
public:
  TreeHasher();
  void add(const TreeRecord& r); // r.path must sort after the previous record's
  Hash128 digest() { return m_hasher.digest(); }

private:
  Hasher m_hasher;
};

} // namespace distenv::hash

// Hash128 as a key of unordered containers: its bits are already uniform.
template <> struct std::hash<distenv::hash::Hash128> {
  size_t operator()(const distenv::hash::Hash128& h) const noexcept { return static_cast<size_t>(h.low); }
};
