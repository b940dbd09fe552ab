// The store's two ways to install: a whole tree from an archive
// (install), or a tree from its listing and the contents it lacks
// (assemble). What comes before and after the writing is the same.
#include <distenv/install/store.hpp>

#include <distenv/install/assemble.hpp>
#include <distenv/install/env_index.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/install/file_lock.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/atomic_file.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distenv::install {

namespace {

// Flush the file system before the rename makes the install visible, so that
// a crash cannot leave a complete-looking install with empty files.
void sync_filesystem(const fs::path& dir) {
  const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd)
    ::syncfs(fd.get());
}

// The content index, written as entries arrive (memory stays flat), under
// an .incoming- name until the install is committed.
class IndexWriter {
public:
  explicit IndexWriter(const fs::path& path) : m_file(path), m_records(index_magic()) {}
  void add(const IndexedFile& f) {
    put_indexed(m_records, f);
    if (m_records.size() >= (size_t(64) << 10)) {
      m_file.write(m_records);
      m_records.clear();
    }
  }
  AtomicFile& finish() {
    m_file.write(m_records);
    m_records.clear();
    return m_file;
  }

private:
  AtomicFile m_file;
  std::string m_records;
};

} // namespace

std::unique_ptr<Store::Begun> Store::begin(const std::optional<hash::Hash128>& expected, uint64_t disk_bytes,
                                           Objects* objects) {
  auto b = std::make_unique<Begun>();
  if (expected && has(*expected) && verify(*expected).empty()) { // it will run as it is
    try {
      b->done = reuse(*expected);
      return b;
    } catch (const InputError&) {
      throw;
    } catch (const Error&) {
      // removed meanwhile (gc): installed under the lock
    }
  }
  open();
  b->envs = fs::canonical(envs_dir());
  b->lock = std::make_unique<FileLock>(b->envs / ".lock", m_lock_timeout);
  if (expected && has(*expected)) { // another installer finished while we waited
    b->repaired = changed(*expected);
    if (b->repaired.empty()) {
      b->done = reuse(*expected);
      return b;
    }
  }
  // Holding the lock, no other installer runs on this store: whatever is
  // still incoming was left by a crashed one.
  boost::system::error_code ec;
  for (fs::directory_iterator it(b->envs, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(".incoming-", 0) == 0)
      remove_tree(it->path());
  check_free_space(b->envs, disk_bytes);
  fs::create_directories(objects_dir());
  if (!objects) {
    b->own = std::make_unique<Objects>(objects_dir(), m_link);
    objects = b->own.get();
  }
  b->objects = objects;
  objects->load(); // what other installs added since the check
  return b;
}

Store::Result Store::commit(const ExtractResult& extracted, bool known, const std::string& repaired,
                            AtomicDirectory& incoming, AtomicFile& index, Objects& objects) {
  Result result;
  result.tree_hash = extracted.tree_hash;
  result.dir = path_of(extracted.tree_hash);
  result.bytes_written = extracted.bytes;
  result.local_files = extracted.local_files;
  result.local_bytes = extracted.local_bytes;
  result.kept_files = extracted.kept_files;
  result.kept_bytes = extracted.kept_bytes;
  result.repaired = repaired;
  objects.save();
  if (!known && has(extracted.tree_hash) && changed(extracted.tree_hash).empty()) {
    check_contents_trusted(extracted.tree_hash);
    result.reused = true;
    return result; // the AtomicDirectory removes the duplicate
  }
  sync_filesystem(incoming.dir());
  // A changed install goes first, under a name no run trusts.
  boost::system::error_code ec;
  std::optional<fs::path> trash;
  if (fs::exists(fs::symlink_status(result.dir, ec))) {
    trash = envs_dir() / fmt::format(".incoming-repair-{}-{}", extracted.tree_hash.hex(), ::getpid());
    if (::rename(result.dir.c_str(), trash->c_str()) != 0)
      throw Error(fmt::format("{}: cannot move aside: {}", result.dir.string(), errno_text(errno)));
  }
  // The index first: an index without its environment is never read; an
  // environment without its index is only not reused.
  index.commit_as(index_of(extracted.tree_hash), Durability::none); // synced with the file system above
  incoming.commit(result.dir);
  if (trash)
    remove_tree(*trash);
  result.in_use = std::make_shared<InUse>(*this, extracted.tree_hash); // still under the store lock
  return result;
}

Store::Result Store::install(std::optional<hash::Hash128> expected, uint64_t disk_bytes,
                             pack::ChunkSource& source, Objects* objects) {
  const std::unique_ptr<Begun> b = begin(expected, disk_bytes, objects);
  if (b->done)
    return *b->done;
  const std::string tag = expected ? expected->hex() : "unknown";
  AtomicDirectory incoming(b->envs / fmt::format(".incoming-{}-{}", tag, ::getpid()), 0755);
  IndexWriter index(incoming.dir().string() + ".files");
  const std::string root = incoming.dir().string() + "/";
  const ExtractResult extracted =
      extract(source, incoming.dir(), b->objects, [&](const hash::TreeRecord& r, bool own) {
        struct stat st {};
        ::lstat((root + r.path).c_str(), &st);
        index.add(indexed(r, own, st));
      });
  AtomicFile& written = index.finish();
  if (expected && !(extracted.tree_hash == *expected))
    throw Error(fmt::format("received environment does not match its hash: expected {}, got {}",
                            expected->hex(), extracted.tree_hash.hex()));
  return commit(extracted, expected.has_value(), b->repaired, incoming, written, *b->objects);
}

std::optional<std::string> Store::base_index(const hash::Hash128& base) const {
  if (m_link == LinkMode::copy || !has(base))
    return std::nullopt;
  std::string index;
  try {
    index = read_file(index_of(base), uint64_t(1) << 30, Follow::no);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (!index_complete(index))
    return std::nullopt;
  return index;
}

Store::Result Store::assemble(const hash::Hash128& expected, const Listing& listing,
                              std::optional<hash::Hash128> base, uint64_t disk_bytes,
                              pack::ChunkSource& source, Objects* objects) {
  const std::unique_ptr<Begun> b = begin(expected, disk_bytes, objects);
  if (b->done)
    return *b->done;
  const fs::path temp = b->envs / fmt::format(".incoming-{}-{}", expected.hex(), ::getpid());
  // The previous version becomes this one where no job uses it (an
  // exclusive flock on its directory; a job's InUse is a shared one), and
  // where what it is was checked (the check verified it by stat).
  std::optional<std::string> index_of_base;
  if (base && !(*base == expected) && b->repaired.empty())
    index_of_base = base_index(*base);
  if (index_of_base) {
    const fs::path from = path_of(*base);
    const Fd claim(::open(from.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (claim && ::flock(claim.get(), LOCK_EX | LOCK_NB) == 0 && ::rename(from.c_str(), temp.c_str()) == 0)
      ::unlink(index_of(*base).c_str()); // the base is gone: it is becoming this one
    else
      index_of_base.reset();
  }
  AtomicDirectory incoming(temp, 0755, index_of_base.has_value());
  IndexWriter index(temp.string() + ".files");
  const ExtractResult extracted =
      install::assemble(listing, source, temp, index_of_base ? &*index_of_base : nullptr, *b->objects,
                        [&](const IndexedFile& f) { index.add(f); });
  AtomicFile& written = index.finish();
  if (!(extracted.tree_hash == expected))
    throw Error(fmt::format("received listing does not match the environment's hash: expected {}, got {}",
                            expected.hex(), extracted.tree_hash.hex()));
  Result result = commit(extracted, true, b->repaired, incoming, written, *b->objects);
  result.in_place = index_of_base.has_value();
  return result;
}

} // namespace distenv::install
