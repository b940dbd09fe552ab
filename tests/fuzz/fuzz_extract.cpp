// libFuzzer harness: received archives are untrusted. The input is a tar
// stream (compressed here, so the fuzzer explores tar, not zstd); extraction
// must either fail cleanly or write only inside its directory.
#include "support/memory_chunks.hpp"
#include <distenv/install/extract.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <zstd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace fs = boost::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path base = [] {
    char tmpl[] = "/dev/shm/distenv-fuzz-XXXXXX";
    return fs::path(::mkdtemp(tmpl));
  }();
  const fs::path dest = base / "t";
  fs::remove_all(dest);
  fs::create_directory(dest);

  std::vector<char> packed(ZSTD_compressBound(size));
  packed.resize(ZSTD_compress(packed.data(), packed.size(), data, size, 1));
  distenv::test::MemoryChunks chunks;
  for (size_t off = 0; off < packed.size(); off += 4096)
    chunks.put(distenv::pack::Bytes(reinterpret_cast<const std::byte*>(packed.data()) + off,
                                    std::min<size_t>(4096, packed.size() - off)));
  try {
    distenv::install::extract(chunks, dest);
  } catch (const distenv::Error&) {
  }
  // Nothing may appear next to the destination ...
  for (fs::directory_iterator it(base), end; it != end; ++it)
    if (it->path() != dest)
      std::abort();
  // ... and no symlink inside may resolve outside it.
  const std::string root = fs::canonical(dest).string() + "/";
  for (fs::recursive_directory_iterator it(dest), end; it != end; ++it) {
    if (!fs::is_symlink(it->symlink_status()))
      continue;
    boost::system::error_code ec;
    fs::path target = fs::weakly_canonical(it->path(), ec);
    if (!ec && target.string().rfind(root, 0) != 0 && target.string() + "/" != root)
      std::abort();
  }
  return 0;
}
