// A packed size estimate from a small compressed sample.
#include <distenv/pack/estimate.hpp>

#include <distenv/util/fd.hpp>

#include <zstd.h>

#include <algorithm>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace distenv::pack {

namespace {

constexpr size_t k_piece = 64 << 10;
constexpr size_t k_pieces = 16;
constexpr uint64_t k_header = 1024; // a tar header and its pax record, before compression

// Up to k_piece bytes from the middle of `path` ("" when it cannot be read).
std::string piece_of(const layout::FileEntry& e) {
  if (e.content)
    return e.content->substr(0, k_piece);
  const Fd fd(::open(e.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd)
    return {};
  std::string out(static_cast<size_t>(std::min<uint64_t>(e.size, k_piece)), '\0');
  const off_t at = static_cast<off_t>(e.size > k_piece ? (e.size - k_piece) / 2 : 0);
  const ssize_t n = ::pread(fd.get(), out.data(), out.size(), at);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

} // namespace

uint64_t estimate_archive_bytes(const layout::Tree& tree,
                                const std::function<bool(const hash::Hash128&)>& send, int zstd_level) {
  uint64_t content = 0, headers = 0;
  std::vector<const layout::FileEntry*> sent;
  for (const layout::FileEntry& e : tree.entries) {
    headers += k_header;
    if (e.type == layout::EntryType::file && (!send || send(e.hash))) {
      content += e.size;
      sent.push_back(&e);
    }
  }
  std::partial_sort(sent.begin(), sent.begin() + static_cast<long>(std::min(k_pieces, sent.size())),
                    sent.end(),
                    [](const layout::FileEntry* a, const layout::FileEntry* b) { return a->size > b->size; });
  sent.resize(std::min(k_pieces, sent.size()));
  uint64_t raw = 0, packed = 0;
  std::string out;
  for (const layout::FileEntry* e : sent) {
    const std::string in = piece_of(*e);
    if (in.empty())
      continue;
    out.resize(ZSTD_compressBound(in.size()));
    const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), zstd_level);
    if (ZSTD_isError(n))
      continue;
    raw += in.size();
    packed += std::min(n, in.size());
  }
  const double ratio = raw ? static_cast<double>(packed) / static_cast<double>(raw) : 1.0;
  // Headers of the entries compress well (mostly zeros and similar paths).
  return static_cast<uint64_t>(ratio * static_cast<double>(content)) + headers / 8;
}

} // namespace distenv::pack
