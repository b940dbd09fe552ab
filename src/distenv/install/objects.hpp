#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace distenv::install {

namespace fs = boost::filesystem;

// How an installed tree's files come from the store's objects:
//   hardlink  the tree's file is the object (a new version of an
//             environment creates directory entries, not data)
//   reflink   a clone of the object (its own inode, shared blocks), where
//             the file system can (XFS, Btrfs)
//   copy      a private, writable copy (for jobs that write into their tree)
//   automatic reflink where the file system can, else hardlink
// In every mode but copy, installed files are read-only (0444, or 0555
// when executable).
enum class LinkMode { automatic, reflink, hardlink, copy };
std::optional<LinkMode> parse_link_mode(std::string_view text);
std::string_view link_mode_name(LinkMode mode);

// The object key: a content and whether it is executable (a hard link
// shares its mode, so the two are different objects).
struct ObjectKey {
  hash::Hash128 content;
  bool executable = false;
  bool operator==(const ObjectKey&) const = default;
};

} // namespace distenv::install

template <> struct std::hash<distenv::install::ObjectKey> {
  size_t operator()(const distenv::install::ObjectKey& k) const noexcept {
    return static_cast<size_t>(k.content.low ^ (k.executable ? 0x9e3779b97f4a7c15ULL : 0));
  }
};

namespace distenv::install {

// The store's objects: one read-only file per distinct content (and mode),
// <dest>/objects/<2 hex>/<30 hex>[x], the way pnpm, uv and Nix keep theirs,
// and a table of what each was when it was made (inode, size, mtime):
// <dest>/objects/table. An object is trusted only while its stat still
// matches its record (no file is read again to trust it; an object someone
// changed in place, even root, has another mtime, and is dropped). The
// per-file delta counts on the trusted objects; installs add what they
// receive; gc removes the objects no environment uses.
class Objects : public LocalFiles {
public:
  Objects(fs::path dir, LinkMode mode);

  const fs::path& dir() const { return m_dir; }
  LinkMode mode() const { return m_mode; }
  // The mode files were placed in (automatic resolved), once one was.
  std::optional<LinkMode> used_mode() const { return m_used; }

  // Reads the table (no object is looked at yet).
  void load();
  // A trusted object holds this content (in either mode): its lstat still
  // matches its record. An object that no longer does loses its record:
  // what it held will be received again.
  bool has(const hash::Hash128& content);
  size_t count() const { return m_records.size(); }
  // The table has a record of this content (in either mode); nothing is
  // looked at (for contents something else vouches for).
  bool recorded(const hash::Hash128& content) const {
    return m_records.count({content, false}) > 0 || m_records.count({content, true}) > 0;
  }

  // LocalFiles: makes `path` hold `content`, from its object.
  void place(const hash::Hash128& content, uint64_t size, bool executable, const std::string& path,
             const std::string& entry, bool own) override;
  // LocalFiles: the file just written at `path` (its final mode and time
  // set) is `content`: it becomes an object if there is none, and the tree
  // gets its file as the mode says.
  void adopt(const hash::Hash128& content, uint64_t size, bool executable, const std::string& path,
             const std::string& entry, bool own) override;

  // LocalFiles: the mode a file of the tree is created with (link modes:
  // without write bits).
  unsigned file_mode(unsigned mode, bool own) const override;

  // Marks the objects in use until this object goes (a shared flock on
  // objects/.in-use): from the check that counts on them to the end of the
  // install that links them, gc removes none.
  void hold();
  // gc: whether no job holds them (then this one does, exclusively).
  bool try_exclusive();

  // Writes the table (under the store lock).
  void save();

  // Removes every object whose content is not in `keep`, and its record;
  // returns the bytes freed. `dry_run`: only counts.
  uint64_t collect(const std::unordered_set<hash::Hash128>& keep, bool dry_run);

  struct Record {
    uint64_t inode = 0, size = 0;
    int64_t mtime_ns = 0;
  };
  fs::path path_of(const ObjectKey& key) const;

private:
  // The object's lstat matches its record; when not, it is dropped.
  bool verify(const ObjectKey& key);
  void remember(const ObjectKey& key, const struct stat& st);
  // The mode to place files in: automatic is decided once, by whether
  // `sample` can be cloned here.
  LinkMode resolve(const fs::path& sample);
  // The object `key` made as a clone (else a copy) of `from`, and remembered.
  void make_copy(const ObjectKey& key, const fs::path& from, const std::string& entry);
  // `to` gets the object's data: a clone, else a copy.
  void clone_or_copy(const fs::path& from, const std::string& to, unsigned mode, const std::string& entry);

  fs::path m_dir;
  LinkMode m_mode;
  std::optional<LinkMode> m_used;
  std::unordered_map<ObjectKey, Record> m_records;
  std::unordered_set<ObjectKey> m_verified; // this process looked: it matched
  bool m_changed = false;
  Fd m_hold;
};

} // namespace distenv::install
