// (De)serialising the activation metadata that ships inside every tree.
#include <distenv/layout/metadata.hpp>

#include <distenv/util/error.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace distenv::layout {

std::string to_json(const Metadata& m) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["format"] = 1;
  j["kind"] = m.kind;
  j["project"] = m.project;
  j["project_file"] = m.project_file;
  j["manifest"] = m.manifest;
  ordered_json vars = ordered_json::array();
  for (const auto& [k, v] : m.env)
    vars.push_back({{"name", k}, {"value", v}});
  j["env"] = vars;
  j["runtime"] = m.runtime;
  j["runtime_hint"] = m.runtime_hint;
  j["command"] = m.command;
  j["each_machine"] = m.each_machine;
  ordered_json devs = ordered_json::array();
  for (const Metadata::Dev& d : m.dev_packages)
    devs.push_back({{"name", d.name}, {"uuid", d.uuid}, {"path", d.path}});
  j["dev_packages"] = devs;
  return j.dump(2) + "\n";
}

Metadata metadata_from_json(const std::string& text, const std::string& what) {
  try {
    auto j = nlohmann::json::parse(text);
    if (j.at("format").get<int>() != 1)
      throw Error(fmt::format("{}: environment metadata format {} is newer than this distenv",
                              what, j.at("format").get<int>()));
    Metadata m;
    m.kind = j.at("kind");
    m.project = j.at("project");
    m.project_file = j.at("project_file");
    m.manifest = j.at("manifest");
    for (const auto& v : j.at("env"))
      m.env.emplace_back(v.at("name"), v.at("value"));
    m.runtime = j.at("runtime");
    m.runtime_hint = j.at("runtime_hint");
    m.command = j.at("command").get<std::vector<std::string>>();
    m.each_machine = j.at("each_machine").get<std::vector<std::string>>();
    for (const auto& d : j.at("dev_packages"))
      m.dev_packages.push_back({d.at("name"), d.at("uuid"), d.at("path")});
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed environment metadata: {}", what, e.what()));
  }
}

} // namespace distenv::layout
