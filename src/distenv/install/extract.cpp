// Writing a received environment to disk, entry by entry, as it arrives.
#include <distenv/install/extract.hpp>

#include <distenv/install/write.hpp>
#include <distenv/pack/archive_reader.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/interrupt.hpp>
#include <distenv/util/space.hpp>
#include <distenv/util/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace distenv::install {

namespace {

using pack::ArchiveEntry;
using pack::EntryType;

struct Writer {
  pack::ArchiveReader& in;
  std::string root;
  LocalFiles* local;
  const EntryCallback& on_entry;
  SpaceGuard space;
  ExtractResult result;
  std::vector<std::pair<std::string, time_t>> directories; // their times are set last

  void add(const ArchiveEntry& e, hash::TreeRecord& record) {
    const std::string path = root + "/" + e.name;
    if (path.size() >= PATH_MAX) // it could be made, but not used (nor removed by gc)
      throw InputError(fmt::format("received archive: entry '{}...': a path of {} bytes here, at most {}",
                                   e.name.substr(0, 60), path.size(), PATH_MAX - 1));
    switch (e.type) {
    case EntryType::directory:
      space.reserve(0, e.name);
      if (::mkdir(path.c_str(), record.mode) != 0 ||
          ((record.mode & current_umask()) != 0 && ::chmod(path.c_str(), record.mode) != 0))
        cannot(e.name, "create");
      directories.emplace_back(path, e.mtime);
      if (on_entry)
        on_entry(record, false);
      return;
    case EntryType::symlink: {
      space.reserve(0, e.name);
      if (::symlink(e.link.c_str(), path.c_str()) != 0)
        cannot(e.name, "create");
      const struct timespec times[2] = {{e.mtime, 0}, {e.mtime, 0}};
      ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
      record.size = e.link.size();
      record.content = hash::hash_bytes(e.link);
      if (on_entry)
        on_entry(record, false);
      ++result.files;
      result.bytes += e.link.size();
      return;
    }
    case EntryType::file:
      add_file(e, path, record);
      return;
    }
  }

  void add_file(const ArchiveEntry& e, const std::string& path, hash::TreeRecord& record) {
    if (e.reference && !local)
      throw Error(fmt::format("received archive: entry '{}': refers to content {} that was not sent", e.name,
                              e.reference->first.hex()));
    record.size = e.reference ? e.reference->second : e.size;
    const bool executable = (record.mode & 0111) != 0;
    space.reserve(record.size, e.name);
    if (e.reference) { // sent by reference: the data is here already
      local->place(e.reference->first, record.size, executable, path, e.name, e.mutable_file);
      record.content = e.reference->first;
      ++result.local_files;
      result.local_bytes += record.size;
    } else {
      Fd fd = create_file(path, e.name, local ? local->file_mode(record.mode, e.mutable_file) : record.mode);
      record.content = write_data(in, fd.get(), e.name, e.size);
      finish_file(fd, e.name, e.mtime);
      if (local)
        local->adopt(record.content, record.size, executable, path, e.name, e.mutable_file);
    }
    if (on_entry)
      on_entry(record, e.mutable_file);
    ++result.files;
    result.bytes += record.size;
  }
};

} // namespace

ExtractResult extract(pack::ChunkSource& source, const boost::filesystem::path& dest, LocalFiles* local,
                      const EntryCallback& on_entry) {
  pack::ArchiveReader in(source);
  Writer w{in, dest.string(), local, on_entry, SpaceGuard(dest), {}, {}};
  hash::TreeHasher tree;
  ArchiveEntry e;
  while (in.next(e)) {
    check_stop(); // the caller removes what was made
    hash::TreeRecord record;
    record.path = e.name;
    record.type = e.type;
    record.mode = installed_mode(e.type, e.mode);
    w.add(e, record);
    tree.add(record);
    ++w.result.entries;
  }
  // Innermost first: setting a directory's time after its entries are made.
  for (auto it = w.directories.rbegin(); it != w.directories.rend(); ++it) {
    const struct timespec times[2] = {{it->second, 0}, {it->second, 0}};
    ::utimensat(AT_FDCWD, it->first.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
  w.result.tree_hash = tree.digest();
  return w.result;
}

} // namespace distenv::install
