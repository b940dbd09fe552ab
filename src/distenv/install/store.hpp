#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/install/file_lock.hpp>
#include <distenv/install/listing.hpp>
#include <distenv/install/objects.hpp>
#include <distenv/pack/chunks.hpp>
#include <distenv/util/atomic_dir.hpp>
#include <distenv/util/atomic_file.hpp>
#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace distenv::install {

namespace fs = boost::filesystem;

// Installs that did not finish: how many, and their files' bytes.
struct Interrupted {
  size_t count = 0;
  uint64_t bytes = 0;
};

// The node-local, content-addressed store under --dest:
//   <dest>/envs/<tree hash>/           a complete install (only rename creates it)
//   <dest>/envs/<tree hash>.w/         the same, installed with --link copy (writable)
//   <dest>/envs/<name>.files           its content index, with stat records
//   <dest>/envs/.incoming-<hash>-...   an install in progress (never trusted)
//   <dest>/envs/.lock                  serialises installers on this machine
//   <dest>/envs/.used/<name>           when a job last used <name> (its mtime)
//   <dest>/objects/                    one read-only file per content (install/objects.hpp)
//
// What the store holds runs as the user, so the store trusts only what this
// user (or root) could have written, the way ssh's StrictModes treats
// ~/.ssh: the destination, envs/ and every environment directory must be
// owned by this user or root and writable by nobody else, and no directory
// above them may let others swap them (writable by others without the sticky
// bit). A shared store (Shared::group) trusts the group of the destination
// as well: what it holds may belong to any member, group-writable but never
// world-writable. Anything else is refused with InputError (exit 2) saying
// why and what to do.
class Store {
public:
  enum class Sharing { private_to_user, group };
  explicit Store(fs::path dest, Sharing sharing = Sharing::private_to_user)
      : m_dest(std::move(dest)), m_sharing(sharing) {}

  const fs::path& dest() const { return m_dest; }
  // How installed files come from the objects (--link).
  void set_link_mode(LinkMode mode) { m_link = mode; }
  LinkMode link_mode() const { return m_link; }
  fs::path objects_dir() const { return m_dest / "objects"; }
  // How long an install or a gc waits for another one on this store.
  void set_lock_timeout(double seconds) { m_lock_timeout = seconds; }
  fs::path envs_dir() const { return m_dest / "envs"; }
  fs::path path_of(const hash::Hash128& tree) const { return envs_dir() / name_of(tree); }
  // "<hash>", or "<hash>.w" for a writable install (--link copy).
  std::string name_of(const hash::Hash128& tree) const {
    return m_link == LinkMode::copy ? tree.hex() + ".w" : tree.hex();
  }

  // A complete install of `tree` is there. Touches nothing. Throws InputError
  // when a directory of that name is there but not to be trusted.
  bool has(const hash::Hash128& tree) const;

  // InputError unless nothing inside the installed `tree` is writable by
  // everyone: an environment someone
  // opened up after its install (a worker's chmod -R a+w) could be changed by
  // another user before the next job runs it. One lstat per entry.
  void check_contents_trusted(const hash::Hash128& tree) const;
  // "" when every file of the installed `tree` is as its index recorded it
  // (inode, size, mtime); else what changed. A changed environment is not
  // reused: the next install repairs it.
  std::string changed(const hash::Hash128& tree) const;
  // Both checks in one pass before an installed `tree` is used: InputError
  // when anything in it is writable by everyone, else changed(). One lstat
  // per file (against the index) and per directory (a walk that reads
  // directories only); an install without stat records gets the full walk.
  std::string verify(const hash::Hash128& tree) const;
  // The same with its index read already ("" when there is none).
  std::string verify(const hash::Hash128& tree, const std::string& index) const;

  // Creates what is missing of <dest>/envs (the destination 0700, or 0770 for
  // a group), then checks that the store can be trusted (see above).
  void open();

  // The store's identity: a random id kept in <dest>/envs/.store-id, created
  // on first use. Machines that see the same id share one store. Opens it.
  std::string identity();

  // Fundamental block size of the store's file system (for space estimates).
  uint64_t block_size() const;

  class InUse;

  struct Result {
    fs::path dir;
    bool reused = false; // it was already there; the source was not read
    uint64_t bytes_written = 0;
    uint64_t local_files = 0, local_bytes = 0; // of those: from objects already here
    uint64_t kept_files = 0, kept_bytes = 0;   // of those: the previous version's, kept in place
    bool in_place = false;                     // made from the previous version in place
    std::string repaired; // it was installed but changed: what changed (it was installed again)
    hash::Hash128 tree_hash;
    // The environment marked in use from before the store lock is released,
    // so that a gc running meanwhile cannot remove it before its job uses it.
    std::shared_ptr<InUse> in_use;
  };

  // The content index written beside each environment installed by this
  // version: the hash, size and path of every regular file in it.
  fs::path index_of(const hash::Hash128& tree) const { return envs_dir() / (name_of(tree) + ".files"); }

  // Installs the stream from `source` as `expected` (when given; otherwise the
  // tree hash of what arrives names it). Waits for any other installer on this
  // store, reuses a complete install without reading `source`, checks that
  // `disk_bytes` are free, extracts into a temporary sibling, verifies the
  // tree hash and renames. On any failure nothing is left but the lock file.
  // Files come from and go to the store's objects (`objects`, loaded and
  // held since the check, or the store's own): contents the stream sends by
  // reference must be there.
  Result install(std::optional<hash::Hash128> expected, uint64_t disk_bytes, pack::ChunkSource& source,
                 Objects* objects = nullptr);

  // Installs `expected` from its `listing` (rank 0's) and a stream of the
  // contents this machine lacks (pack's contents_only), as install() does
  // otherwise. Made from the previous version `base` in place when no job
  // uses that one and its index lists it whole (it is then gone: it became
  // this one, and only what differs cost anything), else in a new
  // directory from the objects (install/assemble.hpp).
  Result assemble(const hash::Hash128& expected, const Listing& listing, std::optional<hash::Hash128> base,
                  uint64_t disk_bytes, pack::ChunkSource& source, Objects* objects = nullptr);

  // The store-wide Julia depot (install/depot.cpp), laid out as Julia lays
  // one out: <dest>/depot/packages/<name>/<slug>, <dest>/depot/artifacts/<sha1>,
  // read-only for jobs, shared by every environment; and <dest>/julia, the
  // writable depot before it on the workers' JULIA_DEPOT_PATH (compiled
  // caches, logs).
  fs::path depot_dir() const { return m_dest / "depot"; }
  fs::path julia_dir() const { return m_dest / "julia"; }
  // Jobs' outputs: <dest>/outputs/<job id>/<host>, never inside an environment.
  fs::path outputs_dir() const { return m_dest / "outputs"; }
  // Makes (or opens) a job's output directory for `host`, each directory
  // checked as the store's are (no symlink, ours); returns it.
  fs::path open_output(const std::string& job, const std::string& host);
  // Holds `dir` (an output directory) for a running job: gc leaves it.
  Fd hold_output(const fs::path& dir) const;
  // Removes the output directories of all but the `keep` most recent jobs
  // (by their directory's time), but for those a running job holds.
  struct OutputsCollected {
    size_t removed = 0, kept = 0, busy = 0; // jobs
    uint64_t bytes_freed = 0;
  };
  OutputsCollected collect_outputs(size_t keep, bool dry_run);
  // Creates both (and the store), and checks they can be trusted.
  void open_depot();
  // The depot holds `unit` ("packages/Example/3rsi"): only a rename puts one there.
  bool depot_has(const std::string& unit) const;
  // Makes the depot `listing` (units below their depot paths) from the
  // contents this machine has and those `source` brings, in a temporary
  // directory, then moves each of `units` it does not hold yet into place.
  Result install_depot(const Listing& listing, const std::vector<std::string>& units, uint64_t disk_bytes,
                       pack::ChunkSource& source, Objects* objects = nullptr);

  // Compiled caches (install/compiled.cpp): <dest>/julia/<class>, the
  // writable depot of the machines of one compile class (env/julia_class.hpp),
  // first on their JULIA_DEPOT_PATH. Created and checked.
  fs::path open_compiled(const std::string& cls);
  // Every regular file below its compiled/ directory, "<size> <content
  // hash> <path>" lines sorted by path (relative to the class's directory): what a machine
  // of the class has, for the one that compiled to send what differs.
  std::string compiled_listing(const std::string& cls) const;
  // Writes the files of a tar+zstd stream (pack's whole archive) below the
  // class's directory, each by one rename over what was there (a job that
  // reads a cache meanwhile has the old one or the new one, whole).
  Result install_compiled(const std::string& cls, uint64_t disk_bytes, pack::ChunkSource& source);

  // The index of the installed `base` when a new version can be made from
  // it in place: installed, its index complete, not installed writable.
  std::optional<std::string> base_index(const hash::Hash128& base) const;

  // Marks `tree` as in use for the object's lifetime (a shared flock on its
  // directory, dropped by the kernel if the process dies) and records the
  // use (envs/.used/<name>), so collect() neither removes it now nor soon
  // after.
  class InUse {
  public:
    InUse(const Store& store, const hash::Hash128& tree);
    InUse(const InUse&) = delete;
    InUse& operator=(const InUse&) = delete;
    // Holds it alone for a while (no other job uses it now), or false.
    bool try_alone();
    void share(); // back to a shared hold

  private:
    Fd m_fd;
  };

  // What a job wrote into its environment (entries its index does not
  // name), moved to `into` at their paths in the tree, when no other job
  // holds the environment: it stays as installed, and a later version made
  // from it in place gets nothing extra. Entries below the project matching
  // distenv.toml's `mutable` patterns stay (a job keeps state there). An
  // environment installed with --link copy is the job's own: nothing moves.
  struct Swept {
    uint64_t entries = 0, bytes = 0; // moved (a directory counts once, its files' bytes all)
    bool busy = false;               // another job holds it: nothing moved
    std::vector<std::string> first;  // the first few moved, by path
  };
  Swept sweep_added(const hash::Hash128& tree, InUse& held, const fs::path& into, const std::string& project,
                    const std::vector<std::string>& mutable_patterns);

  struct Collected {
    std::vector<std::string> removed; // hashes (with dry_run: those it would remove)
    std::vector<std::string> kept;
    std::vector<std::string> busy;         // beyond `keep` but in use: kept
    std::vector<std::time_t> removed_used; // when each removed one was last used
    uint64_t bytes_freed = 0;
    uint64_t object_bytes_freed = 0; // of which: objects no environment uses any more
    bool objects_busy = false;       // a job counts on the objects: none removed
    Interrupted interrupted;         // interrupted installs removed (included in bytes_freed)
    OutputsCollected outputs;        // jobs' output directories (not in bytes_freed)
  };

  // Garbage collection: keeps the `keep` most recently used environments and
  // removes the others, except those in use. An environment disappears with
  // one rename (a later run never sees half of it) and is deleted after.
  // `dry_run`: nothing is removed; the result says what would be.
  Collected collect(size_t keep, bool dry_run = false);

private:
  // InputError unless `dir` (lstat) is owned and writable as the store allows.
  void check_trusted(const fs::path& dir) const;
  Result reuse(const hash::Hash128& tree);
  // What install() and assemble() share: reuse of an unchanged install
  // before the lock; under it, what another installer did meanwhile, the
  // remains of crashed ones, the space, the objects; the commit of what was
  // written.
  struct Begun {
    std::optional<Result> done; // nothing to install: it is here
    fs::path envs;
    std::unique_ptr<FileLock> lock; // the store's, held to the end
    std::string repaired;           // installed, but changed since: installed again
    std::unique_ptr<Objects> own;   // when the caller gave none
    Objects* objects = nullptr;
  };
  std::unique_ptr<Begun> begin(const std::optional<hash::Hash128>& expected, uint64_t disk_bytes,
                               Objects* objects);
  Result commit(const ExtractResult& extracted, bool known, const std::string& repaired,
                AtomicDirectory& incoming, AtomicFile& index, Objects& objects);
  // Every content the environments here use (their indexes).
  std::unordered_set<hash::Hash128> contents_in_use() const;
  fs::path m_dest;
  Sharing m_sharing;
  double m_lock_timeout = 600;
  LinkMode m_link = LinkMode::automatic;
};

// When a job last used the environment directory `name` of `envs`, in ns
// since the epoch: its record (Store::InUse), else the directory's mtime (an
// install of an older distenv); 0 when neither is there.
int64_t last_used_ns(const fs::path& envs, const std::string& name);

// Removes what a crashed installer left in `dir` (its .incoming-<pid>
// directories). Only under the store lock: then no other installer runs.
void remove_incoming(const fs::path& dir);

// What interrupted installs left in the store at `dest` (.incoming-*
// directories in envs/, depot/ and each compile class's directory; an
// install running now has one too): how many, and their files' bytes.
Interrupted interrupted_installs(const fs::path& dest);
// The directories those are in.
std::vector<fs::path> incoming_parents(const fs::path& dest);

// The jobs' output directories in the store at `dest`: how many jobs, their files' bytes.
struct OutputsUse {
  size_t jobs = 0;
  uint64_t bytes = 0;
};
OutputsUse outputs_use(const fs::path& dest);

// mkdir with exactly `mode` (the umask does not apply); an existing
// directory is left as it is (the trust check looks at it).
void make_directory(const fs::path& dir, unsigned mode);

// Throws Error "not enough space in DIR: need X, Y free" when `dir` has less
// than `bytes` available.
void check_free_space(const fs::path& dir, uint64_t bytes);

} // namespace distenv::install
