#pragma once

#include <distenv/hash/hash_cache.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/install/store.hpp>

#include <memory>
#include <unordered_map>
#include <vector>

namespace distenv::install {

// The contents a machine's store already holds, for the per-file delta:
// found through the content index of each installed environment, and each
// checked against its recorded hash before it is counted on (through a
// stat-keyed hash cache kept in the store, so an unchanged file is not read
// again). A file someone edited inside an installed environment no longer
// matches: it is not used, and that content is received instead.
//
// copy_to() fills a new file with a reflink clone where the file system
// can (no data copied; the clone shares nothing the new environment could
// change in the old one), else a copy, hashed on the way. Never a hard link:
// a worker that writes into its tree must not change another environment.
class LocalContents : public LocalFiles {
public:
  LocalContents(const Store& store, const std::vector<hash::Hash128>& wanted);
  ~LocalContents() override;

  bool has(const hash::Hash128& h) const { return m_found.count(h) > 0; }
  size_t count() const { return m_found.size(); }
  void copy_to(const hash::Hash128& hash, uint64_t size, int fd, const std::string& entry) override;

  // The environment `tree` was just installed (its bytes hashed as they were
  // written): its files go into the store's hash cache, so that the next
  // delta need not read them to trust them.
  void learn(const Store& store, const hash::Hash128& tree);

  // The install that copied from them is done: gc may remove them again.
  void release_sources() { m_sources.clear(); }

private:
  static constexpr size_t k_buffer = size_t(1) << 20;
  void copy_bytes(int in, int out, const std::string& entry, const fs::path& from);

  hash::HashCache m_cache;
  std::unique_ptr<char[]> m_buffer; // for copies the kernel cannot make
  std::unordered_map<hash::Hash128, fs::path> m_found;
  // The environments copies come from (their roots, with a trailing '/')
  // are in use, so gc leaves them, until release_sources().
  std::vector<std::pair<std::string, std::unique_ptr<Store::InUse>>> m_sources;
};

} // namespace distenv::install
