// XXH3-128 content hashes and the tree hash that identifies an environment.
#include <distenv/hash/hash.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <unistd.h>

namespace distenv::hash {

std::string Hash128::hex() const {
  return fmt::format("{:016x}{:016x}", high, low);
}

std::optional<Hash128> Hash128::from_hex(std::string_view text) {
  if (text.size() != 32 || text.find_first_not_of("0123456789abcdef") != std::string_view::npos)
    return std::nullopt;
  Hash128 h;
  h.high = std::stoull(std::string(text.substr(0, 16)), nullptr, 16);
  h.low = std::stoull(std::string(text.substr(16)), nullptr, 16);
  return h;
}

Hasher::Hasher() : m_state(XXH3_createState()) {
  if (!m_state)
    throw std::bad_alloc();
  XXH3_128bits_reset(m_state);
}

Hasher::~Hasher() {
  XXH3_freeState(m_state);
}

void Hasher::update(const void* data, size_t size) {
  XXH3_128bits_update(m_state, data, size);
}

Hash128 Hasher::digest() const {
  XXH128_hash_t h = XXH3_128bits_digest(m_state);
  return {h.high64, h.low64};
}

Hash128 hash_bytes(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return {h.high64, h.low64};
}

Hash128 hash_file(const boost::filesystem::path& path, uint64_t& size) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd)
    throw Error(fmt::format("{}: {}", path.string(), errno_text(errno)), 2);
  Hasher hasher;
  constexpr size_t k_block = 1 << 20;
  std::unique_ptr<char[]> buf(new char[k_block]);
  size = 0;
  for (;;) {
    const ssize_t n = read_some(fd.get(), buf.get(), k_block);
    if (n < 0)
      throw Error(fmt::format("{}: {}", path.string(), errno_text(errno)), 2);
    if (n == 0)
      break;
    hasher.update(buf.get(), static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  return hasher.digest();
}

namespace {

template <typename T> void put_le(Hasher& h, T value) {
  unsigned char bytes[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i)
    bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  h.update(bytes, sizeof bytes);
}

} // namespace

TreeHasher::TreeHasher() {
  static constexpr char k_magic[] = "distenv-tree-v1";
  m_hasher.update(k_magic, sizeof k_magic);
}

void TreeHasher::add(const TreeRecord& r) {
  Hasher& h = m_hasher;
  const char type = static_cast<char>(r.type);
  h.update(&type, 1);
  put_le<uint32_t>(h, r.mode);
  put_le<uint64_t>(h, r.size);
  put_le<uint32_t>(h, static_cast<uint32_t>(r.path.size()));
  h.update(r.path.data(), r.path.size());
  put_le<uint64_t>(h, r.content.high);
  put_le<uint64_t>(h, r.content.low);
}

Hash128 tree_hash(std::vector<TreeRecord> records) {
  std::sort(records.begin(), records.end(),
            [](const TreeRecord& a, const TreeRecord& b) { return a.path < b.path; });
  TreeHasher h;
  for (const TreeRecord& r : records)
    h.add(r);
  return h.digest();
}

} // namespace distenv::hash
