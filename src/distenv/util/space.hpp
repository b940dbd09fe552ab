#pragma once

#include <boost/filesystem/path.hpp>

#include <cstdint>

namespace distenv {

namespace fs = boost::filesystem;

// What statvfs says of a file system, in bytes.
struct Space {
  uint64_t block = 4096;  // fundamental block size
  uint64_t available = 0; // free for an unprivileged user
  uint64_t total = 0;
};

// The file system `path` is on. Throws Error naming the path.
Space space_at(const fs::path& path);

// The file system `path` will be on: that of its nearest existing ancestor
// (a store not created yet). Zeros when nothing on the way exists.
Space space_near(fs::path path);

} // namespace distenv
