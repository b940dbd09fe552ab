// Test-owned temporary directories and small file helpers.
#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace distenv::test {

TempDir::TempDir(Where where) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp && *tmp ? tmp : "/tmp";
  if (where == Where::memory && ::access("/dev/shm", W_OK) == 0)
    base = "/dev/shm";
  std::string pattern = base + "/distenv-test-XXXXXX";
  if (!::mkdtemp(pattern.data()))
    throw std::runtime_error("mkdtemp failed");
  m_path = fs::canonical(pattern);
}

TempDir::~TempDir() {
  boost::system::error_code ec;
  // Tests may have made things read-only; make them removable first.
  for (fs::recursive_directory_iterator it(m_path, ec), end; !ec && it != end; it.increment(ec))
    if (!fs::is_symlink(it->symlink_status()))
      fs::permissions(it->path(), fs::owner_all | fs::add_perms, ec);
  fs::remove_all(m_path, ec);
}

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path.string(), std::ios::binary | std::ios::trunc);
  out << content;
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path.string(), std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void copy_fixture(const std::string& name, const fs::path& dest) {
  const fs::path src = fs::path(DISTENV_FIXTURES) / name;
  if (!fs::is_directory(src))
    throw std::runtime_error("no fixture " + src.string());
  fs::create_directories(dest);
  for (fs::recursive_directory_iterator it(src), end; it != end; ++it) {
    const fs::path to = dest / it->path().lexically_relative(src);
    if (fs::is_symlink(it->symlink_status()))
      fs::create_symlink(fs::read_symlink(it->path()), to);
    else if (fs::is_directory(it->status()))
      fs::create_directories(to);
    else // not fs::copy_file: Boost 1.74's fails with EXDEV from overlayfs to tmpfs
      write(to, slurp(it->path()));
  }
}

size_t count_entries(const fs::path& dir) {
  boost::system::error_code ec;
  size_t n = 0;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    ++n;
  return n;
}

} // namespace distenv::test
