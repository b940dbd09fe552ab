// Compiled caches: each compile class's writable depot in the store,
// <dest>/julia/<class>, filled on one machine of the class by compiling and
// on the others from its stream.
#include <distenv/install/store.hpp>

#include <distenv/hash/hash.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/install/file_lock.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::install {

fs::path Store::open_compiled(const std::string& cls) {
  if (cls.empty() || cls.find('/') != std::string::npos || cls[0] == '.')
    throw Error(fmt::format("'{}' is not a compile class", cls));
  open_depot();
  const fs::path dir = julia_dir() / cls;
  make_directory(dir, m_sharing == Sharing::group ? 0775 : 0755);
  check_trusted(dir);
  return dir;
}

std::string Store::compiled_listing(const std::string& cls) const {
  const fs::path dir = julia_dir() / cls;
  std::vector<std::pair<std::string, std::string>> lines; // path, "size hash"
  boost::system::error_code ec;
  fs::recursive_directory_iterator it(dir / "compiled", fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    // By content: Julia touches a cache file each time it loads one (the
    // first it tries next time), so its time says nothing.
    uint64_t size = 0;
    const hash::Hash128 h = hash::hash_file(it->path(), size);
    lines.emplace_back(generic(it->path().lexically_relative(dir)), fmt::format("{} {}", size, h.hex()));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& [path, what] : lines)
    out += what + " " + path + "\n";
  return out;
}

Store::Result Store::install_compiled(const std::string& cls, uint64_t disk_bytes,
                                      pack::ChunkSource& source) {
  const fs::path dir = fs::canonical(open_compiled(cls));
  const FileLock lock(fs::canonical(envs_dir()) / ".lock", m_lock_timeout);
  remove_incoming(dir);
  boost::system::error_code ec;
  check_free_space(dir, disk_bytes);
  AtomicDirectory incoming(dir / fmt::format(".incoming-{}", ::getpid()), 0755);
  const ExtractResult made = extract(source, incoming.dir());
  Result result;
  result.dir = dir;
  result.tree_hash = made.tree_hash;
  result.bytes_written = made.bytes;
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it(incoming.dir(), fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec))
    if (fs::is_regular_file(fs::symlink_status(it->path(), ec)))
      files.push_back(it->path().lexically_relative(incoming.dir()));
  if (ec)
    throw Error(fmt::format("{}: {}", incoming.dir().string(), ec.message()));
  if (!files.empty())
    ::syncfs(Fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)).get());
  for (const fs::path& rel : files) {
    if (rel.empty() || *rel.begin() != "compiled")
      throw Error(fmt::format("{}: not a compiled cache", rel.string()));
    fs::path parent = dir;
    for (const fs::path& part : rel.parent_path())
      make_directory(parent /= part, 0755);
    const fs::path from = incoming.dir() / rel, to = dir / rel;
    if (::rename(from.c_str(), to.c_str()) != 0)
      throw Error(fmt::format("{}: cannot install: {}", to.string(), errno_text(errno)));
  }
  result.reused = files.empty();
  return result;
}

} // namespace distenv::install
