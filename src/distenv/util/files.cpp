// Small file-system helpers: whole-file read/write, atomic replace, path tests.
#include <distenv/util/files.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace distenv {

std::string find_program(const std::string& program, const std::string& path_value) {
  if (program.empty())
    return {};
  if (program.find('/') != std::string::npos)
    return ::access(program.c_str(), X_OK) == 0 ? program : std::string();
  size_t start = 0;
  while (start <= path_value.size()) {
    size_t colon = path_value.find(':', start);
    if (colon == std::string::npos)
      colon = path_value.size();
    std::string dir = path_value.substr(start, colon - start);
    if (dir.empty())
      dir = ".";
    const std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = colon + 1;
  }
  return {};
}

std::string read_file(const fs::path& path, uint64_t max_bytes, Follow follow) {
  const int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow == Follow::no ? O_NOFOLLOW : 0);
  const Fd f(::open(path.c_str(), flags));
  if (!f)
    throw Error(fmt::format("{}: {}", path.string(),
                            errno == ELOOP ? "a symlink where a file should be" : errno_text(errno)));
  struct stat st {};
  if (::fstat(f.get(), &st) != 0)
    throw Error(fmt::format("{}: {}", path.string(), errno_text(errno)));
  if (!S_ISREG(st.st_mode))
    throw Error(fmt::format("{}: not a regular file", path.string()));
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw Error(
        fmt::format("{}: {} bytes, more than the {} expected here", path.string(), st.st_size, max_bytes));
  std::string content;
  char buf[65536];
  for (;;) {
    const ssize_t n = read_some(f.get(), buf, sizeof buf);
    if (n < 0)
      throw Error(fmt::format("{}: {}", path.string(), errno_text(errno)));
    if (n == 0)
      return content;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > max_bytes) // grew while it was read
      throw Error(fmt::format("{}: more than the {} bytes expected here", path.string(), max_bytes));
  }
}

void write_file(const fs::path& path, const std::string& content) {
  Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!f)
    throw Error(fmt::format("{}: cannot create: {}", path.string(), errno_text(errno)));
  if (!write_fully(f.get(), content.data(), content.size()) || !f.close())
    throw Error(fmt::format("{}: cannot write: {}", path.string(), errno_text(errno)));
}

void write_file_atomic(const fs::path& path, const std::string& content, Durability d) {
  AtomicFile file(path);
  file.write(content);
  file.commit(d);
}

void check_output_path(const fs::path& path, const std::string& option) {
  if (path.empty())
    return;
  auto bad = [&](const std::string& why) {
    return InputError(fmt::format("{} {}: {}", option, path.string(), why));
  };
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode))
    throw bad("is a directory");
  if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    if (::access(path.c_str(), W_OK) != 0) // written in place (util/atomic_file.hpp)
      throw bad(errno_text(errno));
    return;
  }
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  struct stat dst {};
  if (::stat(dir.c_str(), &dst) != 0)
    throw bad(fmt::format("directory {}: {}", dir.string(), errno_text(errno)));
  if (!S_ISDIR(dst.st_mode))
    throw bad(fmt::format("{} is not a directory", dir.string()));
  // The file is written beside itself and renamed over the old one: try it.
  const fs::path probe = dir / fmt::format(".{}.distenv-probe-{}", path.filename().string(), ::getpid());
  if (!Fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)))
    throw bad(fmt::format("cannot create files in {}: {}", dir.string(), errno_text(errno)));
  ::unlink(probe.c_str());
  // Renaming over a file another user owns in a sticky directory (/tmp) fails.
  const uid_t me = ::geteuid();
  if (::lstat(path.c_str(), &st) == 0 && (dst.st_mode & S_ISVTX) && me != 0 && st.st_uid != me &&
      dst.st_uid != me)
    throw bad("cannot replace it: another user's file in a sticky directory");
}

std::string generic(const fs::path& path) {
  return path.generic_string();
}

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty() || *o == ".")
      continue; // trailing separator of "a/b/"
    if (i == inner.end() || *i != *o)
      return false;
  }
  return true;
}

std::string host_name() {
  struct utsname u {};
  if (::uname(&u) != 0)
    return "unknown-host";
  return u.nodename;
}

std::string machine_name() {
  const char* slurm = std::getenv("SLURMD_NODENAME");
  return slurm && *slurm ? slurm : host_name();
}

} // namespace distenv
