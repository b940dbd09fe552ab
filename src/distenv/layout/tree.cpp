// Hashing and ordering the walked tree, and its identity.
#include <distenv/layout/layout.hpp>

#include <distenv/hash/hash_cache.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

namespace distenv::layout {

namespace {

void hash_files(Tree& tree, unsigned threads, hash::HashCache* cache) {
  std::vector<FileEntry*> pending;
  for (FileEntry& e : tree.entries)
    if (e.type == EntryType::file && !e.content && !e.hashed)
      pending.push_back(&e);
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < pending.size();) {
      try {
        FileEntry& e = *pending[i];
        e.hash = cache ? cache->hash(e.source, e.size) : hash::hash_file(e.source, e.size);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure)
          failure = std::current_exception();
        next = pending.size();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t)
    pool.emplace_back(work);
  work();
  for (std::thread& t : pool)
    t.join();
  if (failure)
    std::rethrow_exception(failure);
}

} // namespace

void finish_tree(Tree& tree, unsigned threads, hash::HashCache* cache) {
  hash_files(tree, threads, cache);
  std::sort(tree.entries.begin(), tree.entries.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  // A parent of a nested root is also found by the walk of the outer root.
  tree.entries.erase(std::unique(tree.entries.begin(), tree.entries.end(),
                                 [](const FileEntry& a, const FileEntry& b) {
                                   return a.path == b.path && a.type == EntryType::directory &&
                                          b.type == EntryType::directory;
                                 }),
                     tree.entries.end());
  std::vector<hash::TreeRecord> records;
  records.reserve(tree.entries.size());
  for (const FileEntry& e : tree.entries) {
    records.push_back(e.record());
    if (e.type != EntryType::directory) {
      ++tree.files;
      tree.bytes += e.size;
    }
  }
  tree.tree_hash = hash::tree_hash(std::move(records));
}

void add_parent_directories(Tree& tree) {
  std::set<std::string> have, parents;
  for (const FileEntry& e : tree.entries) {
    if (e.type == EntryType::directory)
      have.insert(e.path);
    for (size_t at = e.path.find('/'); at != std::string::npos; at = e.path.find('/', at + 1))
      parents.insert(e.path.substr(0, at));
  }
  for (const std::string& p : parents)
    if (!have.count(p)) {
      FileEntry d;
      d.path = p;
      d.type = EntryType::directory;
      d.mode = 0755;
      tree.entries.push_back(std::move(d));
    }
}

} // namespace distenv::layout
