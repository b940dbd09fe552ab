#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/layout/layout.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace distenv::install {

// One entry of the tree a job installs, as rank 0 lists it for the
// machines that receive it: with the listing, a machine makes the tree from
// what it has (the previous version in place, its objects) and the stream
// carries only the contents it lacks (install/assemble.hpp).
struct Listed {
  std::string path; // relative, '/'-separated; the listing is sorted by it
  hash::EntryType type = hash::EntryType::file;
  bool executable = false;
  bool own = false;      // distenv.toml `mutable`: a private, writable copy
  uint64_t size = 0;     // files; symlinks: the target's length
  hash::Hash128 content; // files; symlinks: the target's hash
  int64_t mtime = 0;     // files, seconds: what a file written from the stream gets
  std::string target;    // symlinks

  // As the tree hash sees it (the installed modes).
  hash::TreeRecord record() const;
};
using Listing = std::vector<Listed>;

Listing listing_of(const layout::Tree& tree);

// The wire form: paths share their prefix with the previous one; about 20
// bytes per entry.
std::string encode_listing(const Listing& listing);
// Untrusted input, checked as a received archive's entries are
// (pack::entry_problem, sorted, none twice, none below a symlink):
// InputError "received listing: ..." naming the entry.
Listing decode_listing(const std::string& bytes);

} // namespace distenv::install
