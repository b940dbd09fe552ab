// A registered package's place in a Julia depot.
#include <distenv/env/julia_depot.hpp>

#include <distenv/env/environment.hpp>
#include <distenv/hash/git_tree.hpp>

#include <boost/crc.hpp>
#include <boost/filesystem/operations.hpp>

#include <array>
#include <cctype>
#include <cstdlib>

namespace distenv::env {

namespace {

// Hex digits into bytes, in order; none unless exactly `count` bytes' worth.
std::optional<std::vector<unsigned char>> hex_bytes(std::string_view hex, size_t count) {
  if (hex.size() != 2 * count)
    return std::nullopt;
  std::vector<unsigned char> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9')
        return c - '0';
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    const int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<unsigned char>(hi * 16 + lo));
  }
  return out;
}

} // namespace

uint32_t crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> c; // Castagnoli's, reflected
  c.process_bytes(data, size);
  return c.checksum();
}

std::string slug(uint32_t x, int length) {
  static constexpr std::string_view chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < length; ++i) {
    out += chars[x % chars.size()];
    x /= static_cast<uint32_t>(chars.size());
  }
  return out;
}

std::optional<std::string> version_slug(std::string_view uuid, std::string_view sha1, int length) {
  if (uuid.size() != 36 || uuid[8] != '-' || uuid[13] != '-' || uuid[18] != '-' || uuid[23] != '-')
    return std::nullopt;
  std::string digits;
  for (char c : uuid)
    if (c != '-')
      digits += c;
  std::optional<std::vector<unsigned char>> u = hex_bytes(digits, 16), h = hex_bytes(sha1, 20);
  if (!u || !h)
    return std::nullopt;
  // Julia hands jl_crc32c the UUID's UInt128 as it lies in memory (least
  // significant byte first, the reverse of how it is written), then
  // continues over the SHA-1's bytes: one CRC of both.
  std::vector<unsigned char> bytes(u->rbegin(), u->rend());
  bytes.insert(bytes.end(), h->begin(), h->end());
  return slug(crc32c(bytes.data(), bytes.size()), length);
}

void verify_registered(Environment& env) {
  for (RegisteredPackage& p : env.registered)
    if (p.found)
      p.computed_sha1 = hash::git_tree_sha1(*p.found);
}

std::optional<boost::filesystem::path> find_in_depots(const std::string& name, std::string_view uuid,
                                                      std::string_view sha1,
                                                      const std::vector<boost::filesystem::path>& depots) {
  for (const int length : {4, 5}) {
    const std::optional<std::string> s = version_slug(uuid, sha1, length);
    if (!s)
      return std::nullopt;
    for (const boost::filesystem::path& depot : depots) {
      const boost::filesystem::path p = depot / "packages" / name / *s;
      boost::system::error_code ec;
      if (boost::filesystem::exists(p, ec))
        return p;
    }
  }
  return std::nullopt;
}

// Where Julia 1.5 looks for packages (base/initdefs.jl init_depot_path):
// JULIA_DEPOT_PATH's entries, an empty entry or an unset variable meaning
// ~/.julia (Julia adds its own share/julia depots too, which hold no
// registered packages), a set but empty variable none; `~` expanded. Each
// registered package is looked for as loading.jl looks (find_in_depots).
void locate_registered(Environment& env) {
  const char* home = std::getenv("HOME");
  const std::string user_home = home ? home : "";
  auto add = [&](const std::string& entry) {
    fs::path depot = entry;
    if (entry.empty())
      depot = user_home.empty() ? fs::path() : fs::path(user_home) / ".julia";
    else if (entry == "~" || entry.rfind("~/", 0) == 0)
      depot = fs::path(user_home + entry.substr(1));
    if (!depot.empty() && std::find(env.depots.begin(), env.depots.end(), depot) == env.depots.end())
      env.depots.push_back(depot);
  };
  const char* var = std::getenv("JULIA_DEPOT_PATH");
  if (!var) {
    add("");
  } else if (*var) {
    const std::string list = var;
    for (size_t start = 0;;) {
      const size_t colon = list.find(':', start);
      add(list.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos)
        break;
      start = colon + 1;
    }
  }
  for (RegisteredPackage& p : env.registered)
    p.found = find_in_depots(p.name, p.uuid, p.tree_sha1, env.depots);
}

} // namespace distenv::env
