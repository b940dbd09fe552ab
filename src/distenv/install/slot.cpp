// A project's stable place: one symlink per project, repointed per version.
#include <distenv/install/slot.hpp>

#include <distenv/install/store.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace distenv::install {

namespace {

constexpr int k_places = 16; // <name>, <name>~2, ... <name>~16

// "alice/sweep" -> "alice-sweep": one directory entry per project.
std::string place_name(const std::string& project) {
  std::string name;
  for (char c : project)
    name += c == '/' ? '-' : c;
  while (!name.empty() && (name.front() == '.' || name.front() == '-'))
    name.erase(name.begin()); // never a hidden name, never an option
  return name.empty() ? "root" : name;
}

std::string link_target(const fs::path& link) {
  char buf[4096];
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// flock with a bound: a holder of LOCK_EX only repoints a link (a moment).
bool lock(int fd, int how, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (::flock(fd, how | LOCK_NB) != 0) {
    if ((errno != EWOULDBLOCK && errno != EINTR) || std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

} // namespace

ProjectSlot::ProjectSlot(const Store& store, const std::string& project, const hash::Hash128& tree) {
  const fs::path dir = store.dest() / "projects";
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw Error(fmt::format("{}: cannot create: {}", dir.string(), errno_text(errno)));
  const std::string target = "../envs/" + store.name_of(tree);
  const std::string base = place_name(project);
  for (int i = 1; i <= k_places; ++i) {
    const std::string name = i == 1 ? base : fmt::format("{}~{}", base, i);
    const fs::path link = dir / name;
    struct stat st {};
    if (::lstat(link.c_str(), &st) == 0 && !S_ISLNK(st.st_mode))
      throw InputError(
          fmt::format("{}: not a symlink where distenv keeps a project's place; remove it", link.string()));
    Fd fd(::open((dir / ("." + name + ".lock")).c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd)
      throw Error(fmt::format("{}: cannot open its lock: {}", link.string(), errno_text(errno)));
    for (int attempt = 0; attempt < 100; ++attempt) {
      // Shared: this place is ours if it points at our environment already.
      if (lock(fd.get(), LOCK_SH, 5) && link_target(link) == target) {
        m_path = link;
        m_lock = std::move(fd);
        return;
      }
      ::flock(fd.get(), LOCK_UN);
      // Exclusive (no job holds it): point it at ours, then hold it shared,
      // and look again (another job may have come between the two locks).
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
        break; // a running job holds it with its own version: the next place
      const fs::path temp = dir / fmt::format(".{}.new-{}", name, ::getpid());
      ::unlink(temp.c_str());
      if (::symlink(target.c_str(), temp.c_str()) != 0 || ::rename(temp.c_str(), link.c_str()) != 0) {
        const int e = errno;
        ::unlink(temp.c_str());
        throw Error(fmt::format("{}: cannot point at {}: {}", link.string(), target, errno_text(e)));
      }
    }
  }
  throw Error(fmt::format("{}: all {} places of project '{}' are held by running jobs of other versions",
                          dir.string(), k_places, project));
}

boost::filesystem::path first_place(const Store& store, const std::string& project) {
  return store.dest() / "projects" / place_name(project);
}

std::optional<hash::Hash128> previous_version(const Store& store, const std::string& project) {
  // The place pointed last (a place is pointed by a new symlink renamed
  // over it: its own mtime says when).
  const fs::path dir = store.dest() / "projects";
  const std::string base = place_name(project);
  std::string newest;
  int64_t newest_ns = -1;
  for (int i = 1; i <= k_places; ++i) {
    const fs::path link = dir / (i == 1 ? base : fmt::format("{}~{}", base, i));
    struct stat st {};
    if (::lstat(link.c_str(), &st) != 0 || !S_ISLNK(st.st_mode))
      continue;
    const int64_t ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (ns > newest_ns) {
      newest_ns = ns;
      newest = link_target(link);
    }
  }
  const std::string prefix = "../envs/";
  if (newest.rfind(prefix, 0) != 0)
    return std::nullopt;
  return hash::Hash128::from_hex(std::string_view(newest).substr(prefix.size()));
}

void collect_slots(const Store& store) {
  const fs::path dir = store.dest() / "projects";
  boost::system::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path link = it->path();
    const std::string name = link.filename().string();
    struct stat st {};
    if (name.front() == '.' || ::lstat(link.c_str(), &st) != 0 || !S_ISLNK(st.st_mode) ||
        ::stat(link.c_str(), &st) == 0)
      continue; // not a place, or its environment is still there
    const fs::path lock_file = dir / ("." + name + ".lock");
    const Fd fd(::open(lock_file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
      continue; // a job holds it
    ::unlink(link.c_str());
    ::unlink(lock_file.c_str());
  }
}

} // namespace distenv::install
