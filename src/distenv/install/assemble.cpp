// A tree made from its listing: the previous version in place, the
// objects, and the contents the stream brings.
#include <distenv/install/assemble.hpp>

#include <distenv/install/objects.hpp>
#include <distenv/install/write.hpp>
#include <distenv/pack/archive_reader.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/interrupt.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace distenv::install {

namespace {

using hash::EntryType;

// The base's entry can stay as it is in the new version.
bool same(const Listed& l, const IndexedFile& b) {
  if (l.type != b.type || l.own || b.own)
    return false;
  if (l.type == EntryType::directory)
    return true;
  return l.content == b.content && l.size == b.size && l.executable == b.executable;
}

struct Assembly {
  Assembly(const Listing& l, const boost::filesystem::path& dest, Objects& o)
      : listing(l), root(dest.string() + "/"), objects(o), space(dest), kept(l.size(), 0), made(l.size(), 0),
        from_base(l.size(), 0) {}

  const Listing& listing;
  std::string root; // the tree, with a trailing '/'
  Objects& objects;
  SpaceGuard space;
  bool in_place = false;
  std::vector<IndexedFile> base; // the previous version's records
  std::vector<char> kept, made;  // per listing entry: stays from the base; came in the stream
  std::vector<size_t> from_base; // per kept entry: its record in `base`
  ExtractResult result;

  std::string path_of(const Listed& l) const {
    std::string path = root + l.path;
    if (path.size() >= PATH_MAX)
      throw InputError(fmt::format("received listing: entry '{}...': a path of {} bytes here, at most {}",
                                   l.path.substr(0, 60), path.size(), PATH_MAX - 1));
    return path;
  }

  // In place, whatever is at `path` that the new version does not keep
  // (a worker's file, the base's entry of another type) goes first.
  void clear(const std::string& path, bool keep_directory = false) {
    struct stat st {};
    if (!in_place || ::lstat(path.c_str(), &st) != 0)
      return;
    if (S_ISDIR(st.st_mode)) {
      if (!keep_directory)
        remove_tree(path);
    } else if (::unlink(path.c_str()) != 0) {
      throw Error(fmt::format("{}: cannot remove: {}", path, errno_text(errno)));
    }
  }

  // Which entries of the base stay; the others are removed, innermost first.
  void match_base(const std::string& base_index) {
    for_each_indexed(base_index, [&](const IndexedFile& f) { base.push_back(f); });
    std::unordered_map<std::string_view, size_t> at;
    at.reserve(base.size());
    for (size_t i = 0; i < base.size(); ++i)
      at.emplace(base[i].path, i);
    std::vector<char> stays(base.size(), 0);
    for (size_t i = 0; i < listing.size(); ++i) {
      const auto it = at.find(listing[i].path);
      if (it != at.end() && same(listing[i], base[it->second])) {
        kept[i] = 1;
        from_base[i] = it->second;
        stays[it->second] = 1;
      }
    }
    std::vector<std::string_view> gone;
    for (size_t i = 0; i < base.size(); ++i)
      if (!stays[i])
        gone.push_back(base[i].path);
    std::sort(gone.rbegin(), gone.rend());
    for (std::string_view path : gone)
      clear(root + std::string(path));
  }

  void make_directories() {
    for (size_t i = 0; i < listing.size(); ++i) {
      const Listed& l = listing[i];
      if (l.type != EntryType::directory || kept[i])
        continue;
      const std::string path = path_of(l);
      clear(path, true);
      space.reserve(0, l.path);
      struct stat st {};
      if (::mkdir(path.c_str(), 0755) != 0 &&
          !(errno == EEXIST && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
        cannot(l.path, "create");
      if ((0755 & current_umask()) != 0 && ::chmod(path.c_str(), 0755) != 0)
        cannot(l.path, "set its mode");
    }
  }

  // The stream: files this machine lacks, or that another machine lacks
  // (one this machine keeps is passed over).
  void receive(pack::ChunkSource& source) {
    pack::ArchiveReader in(source);
    pack::ArchiveEntry e;
    size_t i = 0;
    while (in.next(e)) {
      check_stop();
      while (i < listing.size() && listing[i].path < e.name)
        ++i;
      if (i == listing.size() || listing[i].path != e.name || listing[i].type != EntryType::file ||
          e.type != EntryType::file || e.reference || made[i])
        throw InputError(fmt::format("received archive: entry '{}': not a file of the listing", e.name));
      const Listed& l = listing[i];
      if (kept[i])
        continue;
      if (e.size != l.size)
        throw InputError(
            fmt::format("received archive: entry '{}': {} bytes, {} listed", e.name, e.size, l.size));
      const std::string path = path_of(l);
      clear(path);
      space.reserve(l.size, l.path);
      Fd fd = create_file(path, l.path, objects.file_mode(l.executable ? 0755 : 0644, l.own));
      if (!(write_data(in, fd.get(), l.path, e.size) == l.content))
        throw Error(fmt::format("received environment does not match its hash: entry '{}' is not the "
                                "content listed for it (damaged on the way?)",
                                e.name));
      finish_file(fd, l.path, static_cast<time_t>(l.mtime));
      objects.adopt(l.content, l.size, l.executable, path, l.path, l.own);
      made[i] = 1;
      ++result.files;
      result.bytes += l.size;
    }
  }

  // What the stream did not bring: files from the objects, symlinks.
  void place_rest() {
    for (size_t i = 0; i < listing.size(); ++i) {
      const Listed& l = listing[i];
      if (kept[i] || made[i] || l.type == EntryType::directory)
        continue;
      const std::string path = path_of(l);
      clear(path);
      space.reserve(l.type == EntryType::file ? l.size : 0, l.path);
      if (l.type == EntryType::symlink) {
        if (::symlink(l.target.c_str(), path.c_str()) != 0)
          cannot(l.path, "create");
      } else {
        objects.place(l.content, l.size, l.executable, path, l.path, l.own);
        ++result.local_files;
        result.local_bytes += l.size;
      }
      ++result.files;
      result.bytes += l.size;
    }
  }
};

} // namespace

ExtractResult assemble(const Listing& listing, pack::ChunkSource& source, const boost::filesystem::path& dest,
                       const std::string* base_index, Objects& objects,
                       const std::function<void(const IndexedFile&)>& on_indexed) {
  Assembly a(listing, dest, objects);
  a.in_place = base_index != nullptr;
  if (a.in_place)
    a.match_base(*base_index);
  a.make_directories();
  a.receive(source);
  a.place_rest();

  hash::TreeHasher tree;
  for (size_t i = 0; i < listing.size(); ++i) {
    const Listed& l = listing[i];
    const hash::TreeRecord record = l.record();
    tree.add(record);
    if (a.kept[i]) {
      on_indexed(a.base[a.from_base[i]]);
      if (l.type != EntryType::directory) {
        ++a.result.kept_files;
        a.result.kept_bytes += l.size;
        ++a.result.files;
        a.result.bytes += l.size;
      }
      continue;
    }
    struct stat st {};
    if (::lstat(a.path_of(l).c_str(), &st) != 0)
      cannot(l.path, "find what was made");
    on_indexed(indexed(record, l.own, st));
  }
  a.result.entries = listing.size();
  a.result.tree_hash = tree.digest();
  return a.result;
}

} // namespace distenv::install
