// A machine's compile class (which machines can share compiled caches).
#include <distenv/env/julia_class.hpp>

#include <distenv/env/julia_closure.hpp>

#include <distenv/hash/hash.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <vector>

namespace distenv::env {

namespace {

// The first processor's lines that say what it is and what it can do.
bool identifies(const std::string& key) {
  return key == "model name" || key == "flags" || key == "CPU implementer" || key == "CPU part" ||
         key == "Features" || key == "cpu" || key == "vendor_id";
}

std::string file_identity(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0)
    return p.string() + " -";
  return fmt::format("{} {} {}", p.string(), st.st_size, st.st_mtime);
}

// The system images below <prefix>/lib: lib/julia/sys.so, or
// lib/<multiarch>/julia/sys.so (Debian's layout).
std::vector<fs::path> system_images(const fs::path& lib) {
  std::vector<fs::path> found;
  boost::system::error_code ec;
  if (fs::exists(lib / "julia" / "sys.so", ec))
    found.push_back(lib / "julia" / "sys.so");
  for (fs::directory_iterator it(lib, ec), end; !ec && it != end; it.increment(ec))
    if (fs::exists(it->path() / "julia" / "sys.so", ec))
      found.push_back(it->path() / "julia" / "sys.so");
  std::sort(found.begin(), found.end());
  return found;
}

} // namespace

std::string cpu_identity(const std::string& cpuinfo) {
  std::istringstream in(cpuinfo);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (!out.empty())
        break; // the first processor's block only
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t'))
      key.pop_back();
    if (identifies(key))
      out += key + "=" + line.substr(colon + 1) + "\n";
  }
  return out;
}

namespace {

// The binary and its system images, for the build id and the class.
std::string build_identity(const fs::path& bin) {
  struct utsname u {};
  ::uname(&u);
  std::string identity = fmt::format("{}\n{}", u.machine, file_identity(bin));
  for (const fs::path& image : system_images(bin.parent_path().parent_path() / "lib"))
    identity += "\n" + file_identity(image);
  return identity;
}

fs::path resolved(const fs::path& julia) {
  boost::system::error_code ec;
  const fs::path bin = fs::canonical(julia, ec);
  if (ec)
    throw Error(fmt::format("{}: cannot resolve: {}", julia.string(), ec.message()));
  return bin;
}

} // namespace

std::string julia_build_id(const fs::path& julia) {
  return fmt::format("{:016x}", hash::hash_bytes(build_identity(resolved(julia))).low);
}

DepotUnit runtime_unit(const fs::path& julia) {
  const fs::path bin = resolved(julia);
  DepotUnit u;
  u.path = "runtimes/julia-" + julia_build_id(bin);
  u.source = bin.parent_path().parent_path();
  u.what = fmt::format("the Julia runtime {}", u.source.string());
  u.where = "--runtime ship";
  return u;
}

std::string julia_class(const fs::path& julia) {
  std::string cpuinfo;
  try {
    cpuinfo = read_file("/proc/cpuinfo", uint64_t(4) << 20);
  } catch (const std::exception&) {
    // no /proc: the CPU is known only by its architecture
  }
  struct utsname u {};
  ::uname(&u);
  const std::string identity = build_identity(resolved(julia)) + "\n" + cpu_identity(cpuinfo);
  return fmt::format("{}-{:016x}", u.machine, hash::hash_bytes(identity).low);
}

} // namespace distenv::env
