// The plan rank 0 broadcasts, and who must receive the environment.
#include <distenv/cluster/plan.hpp>

#include <distenv/transport/comm.hpp>

#include <distenv/util/varint.hpp>

#include <set>
#include <unordered_map>

namespace distenv::cluster {

JobPlan JobPlan::from_tree(const layout::Tree& tree, const std::string& project) {
  JobPlan p;
  p.tree_hash = tree.tree_hash;
  p.project = project;
  p.entries = tree.entries.size();
  p.files = tree.files;
  p.bytes = tree.bytes;
  std::unordered_map<hash::Hash128, size_t> seen;
  for (const layout::FileEntry& e : tree.entries) {
    if (e.type != hash::EntryType::file)
      continue;
    const auto [it, added] = seen.emplace(e.hash, p.contents.size());
    if (added)
      p.contents.push_back({e.hash, e.size, 1});
    else
      ++p.contents[it->second].count;
  }
  return p;
}

namespace {
constexpr char k_plan_magic[] = "DP2";
}

std::string JobPlan::encode() const {
  std::string out(k_plan_magic, 3);
  put_u64(out, tree_hash.high);
  put_u64(out, tree_hash.low);
  put_varint(out, project.size());
  out += project;
  put_varint(out, entries);
  put_varint(out, files);
  put_varint(out, bytes);
  put_varint(out, contents.size());
  for (const Content& c : contents) {
    put_u64(out, c.hash.high);
    put_u64(out, c.hash.low);
    put_varint(out, c.size);
    put_varint(out, c.count);
  }
  put_varint(out, units.size());
  for (const std::string& u : units) {
    put_varint(out, u.size());
    out += u;
  }
  return out;
}

JobPlan JobPlan::decode(const std::string& bytes) {
  try {
    if (bytes.compare(0, 3, k_plan_magic) != 0)
      throw std::out_of_range("not a plan of this distenv version");
    size_t at = 3;
    JobPlan p;
    p.tree_hash.high = get_u64(bytes, at);
    p.tree_hash.low = get_u64(bytes, at);
    const uint64_t length = get_varint(bytes, at);
    if (length > bytes.size() - at)
      throw std::out_of_range("truncated project");
    p.project = bytes.substr(at, length);
    at += length;
    p.entries = get_varint(bytes, at);
    p.files = get_varint(bytes, at);
    p.bytes = get_varint(bytes, at);
    const uint64_t n = get_varint(bytes, at);
    if (n > bytes.size()) // at least one byte each
      throw std::out_of_range("too many contents");
    p.contents.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      Content c;
      c.hash.high = get_u64(bytes, at);
      c.hash.low = get_u64(bytes, at);
      c.size = get_varint(bytes, at);
      c.count = get_varint(bytes, at);
      p.contents.push_back(c);
    }
    const uint64_t units = get_varint(bytes, at);
    if (units > bytes.size())
      throw std::out_of_range("too many units");
    for (uint64_t i = 0; i < units; ++i) {
      const uint64_t size = get_varint(bytes, at);
      if (size > bytes.size() - at)
        throw std::out_of_range("truncated unit");
      p.units.push_back(bytes.substr(at, size));
      at += size;
    }
    return p;
  } catch (const std::out_of_range& e) {
    throw transport::CommError(std::string("malformed plan from rank 0: ") + e.what());
  }
}

uint64_t JobPlan::disk_estimate(uint64_t block) const {
  if (block == 0)
    block = 4096;
  uint64_t total = entries * block;
  for (const Content& c : contents)
    total += c.count * ((c.size + block - 1) / block * block);
  return total;
}

std::vector<int> choose_receivers(const std::vector<StoreState>& machines) {
  std::vector<int> receivers;
  std::set<std::string> served;
  for (size_t m = 0; m < machines.size(); ++m) {
    if (machines[m].has)
      continue;
    if (!machines[m].store_id.empty() && !served.insert(machines[m].store_id).second)
      continue; // another machine installs into this same store
    receivers.push_back(static_cast<int>(m));
  }
  return receivers;
}

} // namespace distenv::cluster
