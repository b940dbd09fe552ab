// The listing of a tree: what a receiving machine builds, entry by entry.
#include <distenv/install/listing.hpp>

#include <distenv/install/write.hpp>
#include <distenv/pack/archive_reader.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/varint.hpp>

#include <fmt/format.h>

#include <set>
#include <stdexcept>
#include <string_view>

namespace distenv::install {

namespace {

constexpr std::string_view k_magic = "DL1";

char type_char(hash::EntryType t) {
  return static_cast<char>(t);
}

// Refused as a received archive's entry would be.
using PathSet = std::set<std::string, std::less<>>;

void check_entry(const Listed& e, const Listed* previous, PathSet& symlinks, PathSet& directories) {
  const unsigned mode = installed_mode(e.type, e.executable ? 0755 : 0644);
  if (std::string why = pack::entry_problem(e.path, e.type, mode, e.target); !why.empty())
    throw InputError(fmt::format("received listing: entry '{}': {}", e.path, why));
  if (previous && e.path <= previous->path)
    throw InputError(fmt::format("received listing: entry '{}': out of order or twice (after '{}')", e.path,
                                 previous->path));
  for (size_t slash = e.path.find('/'); slash != std::string::npos; slash = e.path.find('/', slash + 1))
    if (symlinks.count(std::string_view(e.path).substr(0, slash)))
      throw InputError(fmt::format("received listing: entry '{}': lies below the symlink '{}'", e.path,
                                   e.path.substr(0, slash)));
  const size_t last = e.path.rfind('/');
  if (last != std::string::npos && !directories.count(std::string_view(e.path).substr(0, last)))
    throw InputError(fmt::format("received listing: entry '{}': its directory is not listed", e.path));
  if (e.type == hash::EntryType::symlink)
    symlinks.insert(e.path);
  if (e.type == hash::EntryType::directory)
    directories.insert(e.path);
}

} // namespace

hash::TreeRecord Listed::record() const {
  return {path, type, installed_mode(type, executable ? 0755 : 0644), size, content};
}

Listing listing_of(const layout::Tree& tree) {
  Listing out;
  out.reserve(tree.entries.size());
  for (const layout::FileEntry& e : tree.entries) {
    Listed l;
    l.path = e.path;
    l.type = e.type;
    l.executable = e.type == hash::EntryType::file && (e.mode & 0111) != 0;
    l.own = e.mutable_file;
    const hash::TreeRecord r = e.record();
    l.size = r.size;
    l.content = r.content;
    l.mtime = e.mtime;
    l.target = e.link_target;
    out.push_back(std::move(l));
  }
  return out;
}

std::string encode_listing(const Listing& listing) {
  std::string out(k_magic);
  put_varint(out, listing.size());
  std::string_view previous;
  for (const Listed& e : listing) {
    size_t shared = 0;
    while (shared < previous.size() && shared < e.path.size() && previous[shared] == e.path[shared])
      ++shared;
    put_varint(out, shared);
    put_varint(out, e.path.size() - shared);
    out.append(e.path, shared);
    out += type_char(e.type);
    put_varint(out, (e.executable ? 1 : 0) | (e.own ? 2 : 0));
    if (e.type == hash::EntryType::file) {
      put_varint(out, e.size);
      put_u64(out, e.content.high);
      put_u64(out, e.content.low);
      put_varint(out, static_cast<uint64_t>(e.mtime));
    } else if (e.type == hash::EntryType::symlink) {
      put_varint(out, e.target.size());
      out += e.target;
    }
    previous = e.path;
  }
  return out;
}

Listing decode_listing(const std::string& bytes) {
  if (bytes.compare(0, k_magic.size(), k_magic) != 0)
    throw InputError("received listing: not a distenv listing");
  Listing out;
  PathSet symlinks, directories;
  try {
    size_t at = k_magic.size();
    const uint64_t count = get_varint(bytes, at);
    if (count > bytes.size()) // every entry takes bytes
      throw std::out_of_range("count");
    out.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) {
      Listed e;
      const uint64_t shared = get_varint(bytes, at);
      const uint64_t length = get_varint(bytes, at);
      if (shared > (out.empty() ? 0 : out.back().path.size()) || length > bytes.size() - at)
        throw std::out_of_range("path");
      e.path = (out.empty() ? std::string() : out.back().path.substr(0, shared)) + bytes.substr(at, length);
      at += length;
      if (at >= bytes.size())
        throw std::out_of_range("type");
      const char type = bytes[at++];
      const uint64_t flags = get_varint(bytes, at);
      e.own = (flags & 2) != 0;
      if (type == type_char(hash::EntryType::file)) {
        e.executable = (flags & 1) != 0;
        e.size = get_varint(bytes, at);
        e.content.high = get_u64(bytes, at);
        e.content.low = get_u64(bytes, at);
        e.mtime = static_cast<int64_t>(get_varint(bytes, at));
      } else if (type == type_char(hash::EntryType::symlink)) {
        e.type = hash::EntryType::symlink;
        const uint64_t n = get_varint(bytes, at);
        if (n > bytes.size() - at)
          throw std::out_of_range("target");
        e.target = bytes.substr(at, n);
        at += n;
        e.size = e.target.size();
        e.content = hash::hash_bytes(e.target);
      } else if (type == type_char(hash::EntryType::directory)) {
        e.type = hash::EntryType::directory;
      } else {
        throw InputError(fmt::format("received listing: entry '{}': unknown type", e.path));
      }
      check_entry(e, out.empty() ? nullptr : &out.back(), symlinks, directories);
      out.push_back(std::move(e));
    }
    if (at != bytes.size())
      throw std::out_of_range("trailing bytes");
  } catch (const std::out_of_range& e) {
    throw InputError(fmt::format("received listing: malformed ({}) after {} entries", e.what(), out.size()));
  }
  return out;
}

} // namespace distenv::install
