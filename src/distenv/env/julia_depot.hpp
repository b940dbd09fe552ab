#pragma once

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace distenv::env {

// Where Julia keeps a registered package of a manifest in a depot, as
// base/loading.jl finds it: <depot>/packages/<name>/<slug>, the slug made
// from the package's UUID and its git-tree-sha1 (`version_slug`: CRC-32C of
// the UUID's 16 bytes as Julia holds them, then of the 20 SHA-1 bytes,
// written in 5 characters of A-Za-z0-9; 4 characters in older depots).

// CRC-32C of `size` bytes, as Julia's jl_crc32c from 0 (continuing a CRC
// over more bytes is the CRC of them all).
uint32_t crc32c(const void* data, size_t size);
// Julia's `slug(x, p)`.
std::string slug(uint32_t x, int length);
// Julia's `version_slug(uuid, sha1, p)`; std::nullopt when the UUID or the
// SHA-1 is not well formed ("8-4-4-4-12" hex; 40 hex).
std::optional<std::string> version_slug(std::string_view uuid, std::string_view sha1, int length = 5);

// The first of <depot>/packages/<name>/<slug> that exists, trying the
// 4-character slug in every depot first, then the 5-character one, as
// loading.jl does.
std::optional<boost::filesystem::path> find_in_depots(const std::string& name, std::string_view uuid,
                                                      std::string_view sha1,
                                                      const std::vector<boost::filesystem::path>& depots);

struct Environment;

// Finds every registered package of `env` where Julia 1.5 would
// (base/initdefs.jl init_depot_path: JULIA_DEPOT_PATH, else ~/.julia),
// filling env.depots and each package's `found`.
void locate_registered(Environment& env);

// Computes the git tree hash of every registered package found in a depot
// (RegisteredPackage::computed_sha1), to compare with the manifest's: a tree
// that differs was changed after Pkg installed it. Reads every file of them.
void verify_registered(Environment& env);

} // namespace distenv::env
