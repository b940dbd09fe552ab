// Free space and block size of a file system: the one statvfs wrapper.
#include <distenv/util/space.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <sys/statvfs.h>

namespace distenv {

namespace {

Space from(const struct statvfs& vfs) {
  Space s;
  s.block = vfs.f_frsize ? vfs.f_frsize : 4096;
  s.available = static_cast<uint64_t>(vfs.f_bavail) * s.block;
  s.total = static_cast<uint64_t>(vfs.f_blocks) * s.block;
  return s;
}

} // namespace

Space space_at(const fs::path& path) {
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0)
    throw Error(fmt::format("{}: {}", path.string(), errno_text(errno)));
  return from(vfs);
}

Space space_near(fs::path path) {
  struct statvfs vfs {};
  while (::statvfs(path.c_str(), &vfs) != 0) {
    if (!path.has_parent_path() || path == path.root_path())
      return Space{4096, 0, 0};
    path = path.parent_path();
  }
  return from(vfs);
}

} // namespace distenv
