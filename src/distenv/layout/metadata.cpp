// (De)serialising the activation metadata that ships inside every tree.
#include <distenv/layout/metadata.hpp>

#include <distenv/util/error.hpp>
#include <distenv/util/json_text.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace distenv::layout {

std::string to_json(const Metadata& m) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["format"] = 1;
  j["kind"] = json_text(m.kind);
  j["project"] = json_text(m.project);
  j["project_file"] = json_text(m.project_file);
  j["manifest"] = json_text(m.manifest);
  ordered_json vars = ordered_json::array();
  for (const auto& [k, v] : m.env)
    vars.push_back({{"name", json_text(k)}, {"value", json_text(v)}});
  j["env"] = vars;
  j["runtime"] = json_text(m.runtime);
  j["runtime_hint"] = json_text(m.runtime_hint);
  auto texts = [](const std::vector<std::string>& list) {
    ordered_json a = ordered_json::array();
    for (const std::string& s : list)
      a.push_back(json_text(s));
    return a;
  };
  j["command"] = texts(m.command);
  j["each_machine"] = texts(m.each_machine);
  if (!m.mutable_files.empty()) // absent otherwise: environments without it keep their hash
    j["mutable"] = texts(m.mutable_files);
  ordered_json devs = ordered_json::array();
  for (const Metadata::Dev& d : m.dev_packages)
    devs.push_back({{"name", json_text(d.name)}, {"uuid", json_text(d.uuid)}, {"path", json_text(d.path)}});
  j["dev_packages"] = devs;
  return j.dump(2) + "\n";
}

Metadata metadata_from_json(const std::string& text, const std::string& what) {
  try {
    auto j = nlohmann::json::parse(text);
    if (j.at("format").get<int>() != 1)
      throw Error(fmt::format("{}: environment metadata format {} is newer than this distenv", what,
                              j.at("format").get<int>()));
    Metadata m;
    m.kind = text_of(j.at("kind"));
    m.project = text_of(j.at("project"));
    m.project_file = text_of(j.at("project_file"));
    m.manifest = text_of(j.at("manifest"));
    for (const auto& v : j.at("env"))
      m.env.emplace_back(text_of(v.at("name")), text_of(v.at("value")));
    m.runtime = text_of(j.at("runtime"));
    m.runtime_hint = text_of(j.at("runtime_hint"));
    for (const auto& c : j.at("command"))
      m.command.push_back(text_of(c));
    for (const auto& c : j.at("each_machine"))
      m.each_machine.push_back(text_of(c));
    if (j.contains("mutable"))
      for (const auto& c : j.at("mutable"))
        m.mutable_files.push_back(text_of(c));
    for (const auto& d : j.at("dev_packages"))
      m.dev_packages.push_back({text_of(d.at("name")), text_of(d.at("uuid")), text_of(d.at("path"))});
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed environment metadata: {}", what, e.what()));
  }
}

} // namespace distenv::layout
