// Contents already on this machine, for the per-file delta.
#include <distenv/install/local_contents.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/files.hpp>
#include <distenv/util/varint.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::install {

namespace {

// Calls `each(hash, path)` for every record of a content index (written by
// Store::install: 16 bytes of hash, size, path length, path). A torn index
// ends early: what was read of it is checked before use like the rest.
template <typename Each> void for_each_record(const std::string& index, Each&& each) {
  try {
    for (size_t at = 0; at < index.size();) {
      hash::Hash128 h;
      h.high = get_u64(index, at);
      h.low = get_u64(index, at);
      get_varint(index, at); // size: a file's own is checked when it is used
      const uint64_t length = get_varint(index, at);
      if (length > index.size() - at)
        return;
      each(h, std::string_view(index).substr(at, length));
      at += length;
    }
  } catch (const std::out_of_range&) {
  }
}

} // namespace

LocalContents::LocalContents(const Store& store, const std::vector<hash::Hash128>& wanted)
    : m_cache(store.dest() / "hash-cache") {
  std::unordered_map<hash::Hash128, std::vector<fs::path>> candidates;
  for (const hash::Hash128& h : wanted)
    candidates.emplace(h, std::vector<fs::path>{});
  boost::system::error_code ec;
  for (fs::directory_iterator it(store.envs_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != 32 + 6 || name.compare(32, 6, ".files") != 0)
      continue;
    const auto tree = hash::Hash128::from_hex(name.substr(0, 32));
    if (!tree)
      continue;
    std::string index;
    std::unique_ptr<Store::InUse> in_use;
    try {
      if (!store.has(*tree))
        continue; // an index whose environment is gone (or never came)
      in_use = std::make_unique<Store::InUse>(store, *tree);
      index = read_file(it->path(), uint64_t(1) << 30, Follow::no);
    } catch (const Error&) {
      continue; // removed meanwhile, or not to be trusted: not a source of contents
    }
    const fs::path root = store.path_of(*tree);
    for_each_record(index, [&](const hash::Hash128& h, std::string_view path) {
      if (const auto w = candidates.find(h); w != candidates.end())
        w->second.push_back(root / std::string(path));
    });
    m_sources.emplace_back(root.string() + "/", std::move(in_use));
  }
  // Counted on only if a copy still holds what it held when installed: one
  // the hash cache vouches for (nothing read), else one hashed again now.
  for (auto& [h, paths] : candidates) {
    for (const fs::path& p : paths)
      if (const auto known = m_cache.known(p); known && *known == h) {
        m_found.emplace(h, p);
        break;
      }
    if (m_found.count(h))
      continue;
    for (const fs::path& p : paths) {
      struct stat st {};
      if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        continue;
      uint64_t size = 0;
      try {
        if (m_cache.hash(p, size) == h) {
          m_found.emplace(h, p);
          break;
        }
      } catch (const Error&) {
      }
    }
  }
  // Only the environments copies will come from stay in use: the others are
  // gc's to remove while this job runs.
  std::erase_if(m_sources, [&](const auto& source) {
    return std::none_of(m_found.begin(), m_found.end(),
                        [&](const auto& found) { return found.second.string().starts_with(source.first); });
  });
}

LocalContents::~LocalContents() {
  m_cache.save();
}

void LocalContents::copy_to(const hash::Hash128& hash, uint64_t size, int fd, const std::string& entry) {
  const auto it = m_found.find(hash);
  if (it == m_found.end())
    throw Error(
        fmt::format("received archive: entry '{}': content {} is not on this machine", entry, hash.hex()));
  const fs::path& from = it->second;
  const Fd source_fd(::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!source_fd)
    throw Error(fmt::format("entry '{}': local copy {}: {}", entry, from.string(), errno_text(errno)));
  const int in = source_fd.get();
  // A clone shares blocks (no data read); otherwise copy. Either way the
  // source was checked before (read, or vouched for by its stat), and it must
  // still be what was checked once the copy is made.
  if (::ioctl(fd, FICLONE, in) != 0)
    copy_bytes(in, fd, entry, from);
  struct stat source {
  }, st{};
  const auto still = ::fstat(in, &source) == 0 ? m_cache.known(source) : std::nullopt;
  if (!still || !(*still == hash) || ::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != size)
    throw Error(
        fmt::format("entry '{}': local copy {} changed during the install; run again", entry, from.string()));
}

// copy_file_range first: the kernel copies without a trip through user space
// (and a network or copy-on-write file system may copy without moving the
// data); read and write where it cannot (older kernels, some file systems).
void LocalContents::copy_bytes(int in, int out, const std::string& entry, const fs::path& from) {
  bool kernel = true;
  for (;;) {
    ssize_t n;
    if (kernel) {
      n = ::copy_file_range(in, nullptr, out, nullptr, size_t(1) << 30, 0);
      if (n < 0 &&
          (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP || errno == EBADF)) {
        kernel = false; // nothing was copied by the failed call: go on from where we are
        continue;
      }
    } else {
      if (!m_buffer)
        m_buffer.reset(new char[k_buffer]); // once, and not zeroed: it is overwritten before use
      n = ::read(in, m_buffer.get(), k_buffer);
      if (n > 0 && !write_fully(out, m_buffer.get(), static_cast<size_t>(n)))
        throw Error(fmt::format("writing '{}': {}", entry, errno_text(errno)));
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(fmt::format("entry '{}': local copy {}: {}", entry, from.string(), errno_text(errno)));
    if (n == 0)
      return;
  }
}

void LocalContents::learn(const Store& store, const hash::Hash128& tree) {
  std::string index;
  try {
    index = read_file(store.index_of(tree), uint64_t(1) << 30, Follow::no);
  } catch (const Error&) {
    return;
  }
  const fs::path root = store.path_of(tree);
  for_each_record(index, [&](const hash::Hash128& h, std::string_view path) {
    m_cache.remember(root / std::string(path), h);
  });
}

} // namespace distenv::install
