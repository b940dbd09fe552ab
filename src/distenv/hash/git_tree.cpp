// Git's tree SHA-1 of a directory (a Julia manifest's git-tree-sha1).
#include <distenv/hash/git_tree.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/fd.hpp>
#include <distenv/util/files.hpp>

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace distenv::hash {

namespace {

using Sha1 = std::array<unsigned char, 20>;

// OpenSSL's SHA-1, fed as data comes.
class Hasher1 {
public:
  Hasher1() : m_ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!m_ctx || EVP_DigestInit_ex(m_ctx.get(), EVP_sha1(), nullptr) != 1)
      throw Error("SHA-1: cannot start (OpenSSL)");
  }
  void update(const void* data, size_t size) { EVP_DigestUpdate(m_ctx.get(), data, size); }
  void update(std::string_view s) { update(s.data(), s.size()); }
  Sha1 digest() {
    Sha1 out{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(m_ctx.get(), out.data(), &n);
    return out;
  }

private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> m_ctx;
};

[[noreturn]] void unreadable(const std::string& path) {
  throw Error(fmt::format("{}: cannot read: {}", path, errno_text(errno)));
}

// "blob <size>\0" and the content (a symlink's: its target).
Sha1 blob(const std::string& path, const struct stat& st) {
  Hasher1 h;
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0)
      unreadable(path);
    target.resize(static_cast<size_t>(n));
    h.update(fmt::format("blob {}", target.size()));
    h.update("", 1);
    h.update(target);
    return h.digest();
  }
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd)
    unreadable(path);
  h.update(fmt::format("blob {}", st.st_size));
  h.update("", 1);
  std::vector<char> buffer(1 << 16);
  uint64_t total = 0;
  for (;;) {
    const ssize_t n = read_some(fd.get(), buffer.data(), buffer.size());
    if (n < 0)
      unreadable(path);
    if (n == 0)
      break;
    h.update(buffer.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  if (total != static_cast<uint64_t>(st.st_size))
    throw Error(fmt::format("{}: changed while it was being hashed", path));
  return h.digest();
}

struct Entry {
  std::string name;
  std::string_view mode;
  Sha1 hash;
  std::string key; // git's order: a directory sorts as "name/"
};

// The tree's hash, or none when no file lies anywhere below `dir` (unless
// it is the top, which always has one).
std::optional<Sha1> tree(const std::string& dir, bool top) {
  std::vector<std::string> names;
  {
    const std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d)
      unreadable(dir);
    while (const struct dirent* e = ::readdir(d.get())) {
      const std::string_view name = e->d_name;
      if (name != "." && name != ".." && name != ".git")
        names.emplace_back(name);
    }
  }
  std::vector<Entry> entries;
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0)
      unreadable(path);
    Entry e{name, {}, {}, name};
    if (S_ISDIR(st.st_mode)) {
      const std::optional<Sha1> below = tree(path, false);
      if (!below)
        continue; // no file below it: git would not have it
      e.mode = "40000";
      e.hash = *below;
      e.key += '/';
    } else if (S_ISLNK(st.st_mode) || S_ISREG(st.st_mode)) {
      e.mode = S_ISLNK(st.st_mode) ? "120000" : (st.st_mode & S_IXUSR) ? "100755" : "100644";
      e.hash = blob(path, st);
    } else {
      throw InputError(
          fmt::format("{}: neither a file, a directory nor a symlink: git cannot hold it", path));
    }
    entries.push_back(std::move(e));
  }
  if (entries.empty() && !top)
    return std::nullopt;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
  std::string body;
  for (const Entry& e : entries) {
    body.append(e.mode).append(" ").append(e.name);
    body += '\0';
    body.append(reinterpret_cast<const char*>(e.hash.data()), e.hash.size());
  }
  Hasher1 h;
  h.update(fmt::format("tree {}", body.size()));
  h.update("", 1);
  h.update(body);
  return h.digest();
}

} // namespace

std::string git_tree_sha1(const boost::filesystem::path& dir) {
  const Sha1 digest = *tree(dir.string(), true);
  std::string hex;
  for (unsigned char b : digest)
    hex += fmt::format("{:02x}", b);
  return hex;
}

GitTreeCache::GitTreeCache(boost::filesystem::path file) : m_file(std::move(file)) {
  if (m_file.empty())
    return;
  std::string text;
  try {
    text = read_file(m_file, uint64_t(1) << 20, Follow::no);
  } catch (const Error&) {
    return;
  }
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    const size_t space = line.find(' ');
    const std::optional<Hash128> key = Hash128::from_hex(line.substr(0, space));
    if (space != std::string::npos && key && line.size() - space - 1 == 40)
      m_lines.emplace_back(*key, line.substr(space + 1));
  }
}

std::string GitTreeCache::known(const Hash128& key) const {
  for (auto it = m_lines.rbegin(); it != m_lines.rend(); ++it)
    if (it->first == key)
      return it->second;
  return {};
}

void GitTreeCache::add(const Hash128& key, const std::string& sha1) {
  m_lines.emplace_back(key, sha1);
  m_changed = true;
}

void GitTreeCache::save() {
  if (!m_changed || m_file.empty())
    return;
  constexpr size_t k_keep = 4096;
  std::string text;
  for (size_t i = m_lines.size() > k_keep ? m_lines.size() - k_keep : 0; i < m_lines.size(); ++i)
    text += m_lines[i].first.hex() + " " + m_lines[i].second + "\n";
  try {
    write_file_atomic(m_file, text, Durability::none);
  } catch (const Error&) {
  }
}

} // namespace distenv::hash
