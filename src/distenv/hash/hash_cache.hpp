#pragma once

#include <distenv/hash/hash.hpp>

#include <boost/filesystem/path.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include <sys/stat.h>

namespace distenv::hash {

// Content hashes remembered by what stat(2) says of a file, like git's index
// and ccache's manifests: (device, inode) -> (size, mtime, ctime in ns,
// hash). A file whose stat still matches is not read again, so a run over
// an unchanged environment reads no file contents. ctime cannot be set by
// users, so an edit that restores the mtime is still seen.
//
// A file changed within the same clock tick as its stat was taken would keep
// its timestamps; such "racy" entries (changed less than a margin before the
// stat: 50 ms on a local file system, whose timestamps come from this
// machine's clock, 2 s on a network one, whose clock may be skewed) are not
// saved, so they are hashed again next time. A cache file
// that is missing, foreign (another user's, another format) or corrupt is
// ignored and replaced: it is never trusted. It is only an optimisation:
// the tree hash still verifies every byte at install.
class HashCache {
public:
  static constexpr int64_t k_racy_local_ns = 50'000'000;
  static constexpr int64_t k_racy_network_ns = 2'000'000'000;

  // Nanoseconds since the epoch, on the clock file timestamps come from
  // (CLOCK_REALTIME). Tests give a later one instead of waiting for files
  // to leave the racy margin.
  using Clock = std::function<int64_t()>;
  static int64_t system_now_ns();

  // Loads `file` when it can be trusted.
  explicit HashCache(boost::filesystem::path file, Clock now = system_now_ns);

  // The hash of the regular file `path` (and its size), from the cache when
  // its stat still matches, else by reading it. Thread-safe.
  Hash128 hash(const boost::filesystem::path& path, uint64_t& size);

  // The cached hash of `path` when its stat still matches (nothing is read;
  // the entry counts as used).
  std::optional<Hash128> known(const boost::filesystem::path& path);
  // The same for a regular file whose stat the caller has just taken (a
  // directory walk's): no system call.
  std::optional<Hash128> known(const struct stat& st);

  // Records `h` as the hash of `path` as it is now (by its stat; nothing is
  // read): for files whose bytes were hashed as they were written.
  void remember(const boost::filesystem::path& path, const Hash128& h);

  // Writes the entries this object used (looked up or hashed), so the cache
  // holds what the environment is now and nothing else (atomically, without
  // fsync: a torn file fails its checksum and is ignored; best effort: a
  // failure only costs time). Nothing is written when that is what the file
  // already holds.
  void save();
  const boost::filesystem::path& file() const { return m_file; }

  uint64_t hits() const { return m_hits; }
  uint64_t misses() const { return m_misses; }

  // Where the reading machine keeps the cache of the environment at
  // `project`: $XDG_CACHE_HOME/distenv, else ~/.cache/distenv, one file per
  // project; in `fallback_dir` when there is no usable home (none: "").
  static boost::filesystem::path default_file(const boost::filesystem::path& project,
                                              const boost::filesystem::path& fallback_dir);
  // The cache directory default_file() uses (none: "").
  static boost::filesystem::path default_dir();

  // Bounds the cache files of this user in `dir`: those not used for 30
  // days go, and all but the `keep` most recently used. Done when a new one
  // is made, and by gc. Returns how many went and their bytes.
  static constexpr size_t k_keep_files = 128;
  static std::pair<size_t, uint64_t> prune(const boost::filesystem::path& dir, size_t keep = k_keep_files);

private:
  struct Entry {
    uint64_t size;
    int64_t mtime_ns, ctime_ns;
    Hash128 hash;
    bool used = false;
    int64_t racy_after_ns = 0; // changed after this: too close to the stat to keep (0: loaded, vetted)
  };
  void record(const boost::filesystem::path& path, const struct stat& st, const Hash128& h);
  using Key = std::pair<uint64_t, uint64_t>; // device, inode

  boost::filesystem::path m_file;
  Clock m_now;
  std::mutex m_mutex;
  std::map<Key, Entry> m_entries;
  std::map<uint64_t, bool> m_network_fs; // by device: are its timestamps another machine's?
  size_t m_loaded = 0;                   // entries read from the file
  bool m_changed = false;                // an entry recorded since
  bool m_fresh = false;                  // no usable file was there: a new one is made
  std::atomic<uint64_t> m_hits{0}, m_misses{0};
};

} // namespace distenv::hash
