// Jobs' output directories in the store: <dest>/outputs/<job id>/<host>.
#include <distenv/install/store.hpp>

#include <distenv/env/ignore.hpp>
#include <distenv/install/env_index.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace distenv::install {

namespace {

uint64_t bytes_below(const fs::path& dir) {
  uint64_t bytes = 0;
  boost::system::error_code ec;
  for (fs::recursive_directory_iterator f(dir, ec), end; !ec && f != end; f.increment(ec))
    if (f->symlink_status(ec).type() == fs::regular_file)
      bytes += fs::file_size(f->path(), ec);
  return bytes;
}

struct Job {
  std::string name;
  int64_t time_ns = 0; // its directory's mtime: a machine's directory made in it touches it
};

std::vector<Job> jobs_in(const fs::path& outputs) {
  std::vector<Job> jobs;
  boost::system::error_code ec;
  for (fs::directory_iterator it(outputs, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || ::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      continue;
    jobs.push_back({name, int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec});
  }
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    return a.time_ns != b.time_ns ? a.time_ns > b.time_ns : a.name > b.name;
  });
  return jobs;
}

} // namespace

OutputsUse outputs_use(const fs::path& dest) {
  OutputsUse use;
  for (const Job& j : jobs_in(dest / "outputs")) {
    ++use.jobs;
    use.bytes += bytes_below(dest / "outputs" / j.name);
  }
  return use;
}

fs::path Store::open_output(const std::string& job, const std::string& host) {
  for (const std::string& name : {job, host})
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
      throw Error(fmt::format("'{}' cannot name an output directory", name));
  open();
  const unsigned mode = m_sharing == Sharing::group ? 0775 : 0755;
  fs::path dir = outputs_dir();
  for (const std::string& below : {std::string(), job, host}) {
    if (!below.empty())
      dir /= below;
    make_directory(dir, mode);
    check_trusted(dir);
  }
  return dir;
}

Fd Store::hold_output(const fs::path& dir) const {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd || ::flock(fd.get(), LOCK_SH) != 0)
    throw Error(fmt::format("{}: cannot hold: {}", dir.string(), errno_text(errno)));
  return fd;
}

Store::OutputsCollected Store::collect_outputs(size_t keep, bool dry_run) {
  OutputsCollected result;
  const std::vector<Job> jobs = jobs_in(outputs_dir());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const fs::path job = outputs_dir() / jobs[i].name;
    if (i < keep) {
      ++result.kept;
      continue;
    }
    check_trusted(job);
    // A machine's directory a running job holds keeps the whole job's.
    std::vector<Fd> held;
    bool busy = false;
    boost::system::error_code ec;
    for (fs::directory_iterator it(job, ec), end; !ec && it != end && !busy; it.increment(ec)) {
      Fd fd(::open(it->path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      busy = fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0;
      held.push_back(std::move(fd));
    }
    if (busy) {
      ++result.busy;
      continue;
    }
    result.bytes_freed += bytes_below(job);
    ++result.removed;
    if (dry_run)
      continue;
    const fs::path trash = outputs_dir() / fmt::format(".gc-{}-{}", jobs[i].name, ::getpid());
    if (::rename(job.c_str(), trash.c_str()) == 0)
      remove_tree(trash);
  }
  return result;
}

Store::Swept Store::sweep_added(const hash::Hash128& tree, InUse& held, const fs::path& into,
                                const std::string& project,
                                const std::vector<std::string>& mutable_patterns) {
  Swept swept;
  if (m_link == LinkMode::copy)
    return swept;
  const std::string index = read_file(index_of(tree), uint64_t(1) << 31, Follow::no);
  if (!index_complete(index))
    return swept; // an older index names files only: what was added cannot be told
  std::unordered_set<std::string> named;
  for_each_indexed(index, [&](const IndexedFile& f) { named.emplace(f.path); });
  env::IgnoreRules kept;
  for (const std::string& p : mutable_patterns)
    kept.add(p);
  const std::string below = project.empty() ? "" : project + "/";
  auto is_kept = [&](const std::string& rel, bool dir) {
    if (mutable_patterns.empty() || rel.compare(0, below.size(), below) != 0)
      return false;
    return kept.covers(std::string_view(rel).substr(below.size()), dir);
  };
  if (!held.try_alone()) {
    swept.busy = true;
    return swept;
  }
  const fs::path root = path_of(tree);
  std::vector<std::pair<std::string, bool>> added; // path, directory
  boost::system::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string rel = generic(it->path().lexically_relative(root));
    if (named.count(rel))
      continue;
    const bool dir = it->symlink_status(ec).type() == fs::directory_file;
    if (dir)
      it.disable_recursion_pending(); // moved whole
    if (!is_kept(rel, dir))
      added.emplace_back(rel, dir);
  }
  for (const auto& [rel, dir] : added) {
    const fs::path to = into / rel;
    boost::system::error_code made, sized;
    fs::create_directories(to.parent_path(), made);
    const uint64_t bytes = dir ? bytes_below(root / rel) : fs::file_size(root / rel, sized);
    if (::rename((root / rel).c_str(), to.c_str()) != 0)
      continue; // (a name taken in `into`: left where it is)
    ++swept.entries;
    swept.bytes += sized ? 0 : bytes;
    if (swept.first.size() < 3)
      swept.first.push_back(rel + (dir ? "/" : ""));
  }
  held.share();
  return swept;
}

} // namespace distenv::install
