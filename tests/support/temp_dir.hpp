#pragma once

#include <boost/filesystem/path.hpp>

#include <string>

namespace distenv::test {

namespace fs = boost::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
// Where::memory puts it on /dev/shm when there is one: for tests that
// install many times and would otherwise measure the disk's syncfs.
class TempDir {
public:
  enum class Where { temp, memory };
  explicit TempDir(Where where = Where::temp);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return m_path; }
  fs::path operator/(const std::string& rel) const { return m_path / rel; }

private:
  fs::path m_path;
};

// Writes `content` to `path`, creating parent directories.
void write(const fs::path& path, const std::string& content);
std::string slurp(const fs::path& path);

// Copies tests/fixtures/<name> into `dest` (recursively, symlinks as symlinks).
void copy_fixture(const std::string& name, const fs::path& dest);

// Number of entries below `dir` (0 if it does not exist).
size_t count_entries(const fs::path& dir);

} // namespace distenv::test
