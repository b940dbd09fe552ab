// The plan rank 0 broadcasts, and who must receive the environment.
#include <distenv/cluster/plan.hpp>

#include <distenv/util/error.hpp>

#include <nlohmann/json.hpp>

#include <set>

namespace distenv::cluster {

JobPlan JobPlan::from_tree(const layout::Tree& tree, const std::string& project) {
  JobPlan p;
  p.tree_hash = tree.tree_hash;
  p.project = project;
  p.entries = tree.entries.size();
  p.files = tree.files;
  p.bytes = tree.bytes;
  for (const layout::FileEntry& e : tree.entries)
    if (e.type != hash::EntryType::directory)
      p.sizes.emplace_back(e.size, e.path);
  return p;
}

std::string JobPlan::encode() const {
  nlohmann::json j;
  j["tree_hash"] = tree_hash.hex();
  j["project"] = project;
  j["entries"] = entries;
  j["files"] = files;
  j["bytes"] = bytes;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [size, path] : sizes)
    list.push_back({size, path});
  j["sizes"] = list;
  const std::vector<std::uint8_t> bytes = nlohmann::json::to_cbor(j); // CBOR: paths need not be UTF-8
  return std::string(bytes.begin(), bytes.end());
}

JobPlan JobPlan::decode(const std::string& text) {
  try {
    auto j = nlohmann::json::from_cbor(text);
    JobPlan p;
    auto h = hash::Hash128::from_hex(j.at("tree_hash").get<std::string>());
    if (!h)
      throw Error("plan: bad tree hash");
    p.tree_hash = *h;
    p.project = j.at("project");
    p.entries = j.at("entries");
    p.files = j.at("files");
    p.bytes = j.at("bytes");
    for (const auto& item : j.at("sizes"))
      p.sizes.emplace_back(item.at(0).get<uint64_t>(), item.at(1).get<std::string>());
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("plan from rank 0 is malformed: ") + e.what());
  }
}

uint64_t JobPlan::disk_estimate(uint64_t block) const {
  if (block == 0)
    block = 4096;
  uint64_t total = entries * block;
  for (const auto& [size, path] : sizes)
    total += (size + block - 1) / block * block;
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
