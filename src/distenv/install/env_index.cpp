// The content index of an installed environment, with stat records.
#include <distenv/install/env_index.hpp>

#include <distenv/util/varint.hpp>

#include <fmt/format.h>

#include <stdexcept>

namespace distenv::install {

namespace {
constexpr std::string_view k_magic = "distenv-index-4\n";   // every entry, with type and mode
constexpr std::string_view k_magic_3 = "distenv-index-3\n"; // regular files, with stat records

// The flags of a record: bit 0 own, bit 1 executable, bits 2-3 the type.
uint64_t flags_of(const IndexedFile& f) {
  const uint64_t type = f.type == hash::EntryType::directory ? 1 : f.type == hash::EntryType::symlink ? 2 : 0;
  return (f.own ? 1 : 0) | (f.executable ? 2 : 0) | (type << 2);
}
} // namespace

bool index_complete(const std::string& index) {
  return index.compare(0, k_magic.size(), k_magic) == 0;
}

std::string_view index_magic() {
  return k_magic;
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

IndexedFile indexed(const hash::TreeRecord& r, bool own, const struct stat& st) {
  IndexedFile f;
  f.content = r.content;
  f.size = r.size;
  f.path = r.path;
  f.inode = static_cast<uint64_t>(st.st_ino);
  f.mtime_ns = mtime_ns(st);
  f.own = own;
  f.type = r.type;
  f.executable = (r.mode & 0111) != 0 && r.type == hash::EntryType::file;
  return f;
}

void put_indexed(std::string& out, const IndexedFile& f) {
  put_u64(out, f.content.high);
  put_u64(out, f.content.low);
  put_varint(out, f.size);
  put_varint(out, f.path.size());
  out += f.path;
  put_varint(out, f.inode);
  put_u64(out, static_cast<uint64_t>(f.mtime_ns));
  put_varint(out, flags_of(f));
}

void for_each_indexed(const std::string& index, const std::function<void(const IndexedFile&)>& each) {
  const bool complete = index_complete(index);
  const bool stats = complete || index.compare(0, k_magic_3.size(), k_magic_3) == 0;
  try {
    for (size_t at = stats ? k_magic.size() : 0; at < index.size();) {
      IndexedFile f;
      f.content.high = get_u64(index, at);
      f.content.low = get_u64(index, at);
      f.size = get_varint(index, at);
      const uint64_t length = get_varint(index, at);
      if (length > index.size() - at)
        return;
      f.path = std::string_view(index).substr(at, length);
      at += length;
      if (stats) {
        f.inode = get_varint(index, at);
        f.mtime_ns = static_cast<int64_t>(get_u64(index, at));
        const uint64_t flags = get_varint(index, at);
        f.own = (flags & 1) != 0;
        if (complete) {
          f.executable = (flags & 2) != 0;
          const uint64_t type = (flags >> 2) & 3;
          f.type = type == 1   ? hash::EntryType::directory
                   : type == 2 ? hash::EntryType::symlink
                               : hash::EntryType::file;
        }
      }
      each(f);
    }
  } catch (const std::out_of_range&) {
  }
}

std::string change_of(const IndexedFile& f, bool found, const struct stat& st) {
  if (f.mtime_ns == 0)
    return {};
  if (!found) // a mutable file too: the tree is no longer the one installed
    return fmt::format("{}: gone since it was installed", f.path);
  if (f.own)
    return {};
  if (f.type == hash::EntryType::directory) {
    if (!S_ISDIR(st.st_mode))
      return fmt::format("{}: changed since it was installed", f.path);
    return {};
  }
  const bool same_type = f.type == hash::EntryType::symlink ? S_ISLNK(st.st_mode) : S_ISREG(st.st_mode);
  if (!same_type || static_cast<uint64_t>(st.st_ino) != f.inode ||
      static_cast<uint64_t>(st.st_size) != f.size || mtime_ns(st) != f.mtime_ns)
    return fmt::format("{}: changed since it was installed", f.path);
  return {};
}

std::string first_changed(const boost::filesystem::path& root, const std::string& index) {
  std::string changed;
  for_each_indexed(index, [&](const IndexedFile& f) {
    if (!changed.empty())
      return;
    struct stat st {};
    const bool found = ::lstat((root / std::string(f.path)).c_str(), &st) == 0;
    changed = change_of(f, found, st);
  });
  return changed;
}

} // namespace distenv::install
