#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/layout/layout.hpp>

#include <cstdint>
#include <functional>

namespace distenv::pack {

// About how many bytes packing `tree` will give, when only the contents for
// which `send` says yes travel: their size times the compression ratio of a
// sample (up to 16 pieces of 64 KiB from the largest files sent, compressed
// at `zstd_level`), plus the archive's headers. Reads at most 1 MiB; used to
// choose the broadcast's chunk size and schedule before packing starts.
uint64_t estimate_archive_bytes(const layout::Tree& tree,
                                const std::function<bool(const hash::Hash128&)>& send, int zstd_level);

} // namespace distenv::pack
