// distenv.toml: the small schema for any environment that is not (only) Julia.
#include <distenv/env/distenv_toml.hpp>

#include <distenv/env/julia.hpp>
#include <distenv/env/toml_doc.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/glob.hpp>

#include <boost/filesystem/operations.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace distenv::env {

namespace {

std::string expect_string(const TomlDoc& doc, const toml::node& node, std::string_view key) {
  if (const auto* s = node.as_string())
    return s->get();
  throw InputError(fmt::format("{}: {} must be a string", doc.where(node), key));
}

std::vector<std::string> expect_strings(const TomlDoc& doc, const toml::node& node, std::string_view key) {
  const auto* array = node.as_array();
  if (!array)
    throw InputError(fmt::format("{}: {} must be an array of strings", doc.where(node), key));
  std::vector<std::string> out;
  for (const toml::node& item : *array) {
    if (!item.as_string())
      throw InputError(fmt::format("{}: {} must be an array of strings", doc.where(item), key));
    out.push_back(item.as_string()->get());
  }
  return out;
}

void set_env(Activation& activation, const std::string& key, const std::string& value) {
  auto it = std::find_if(activation.env.begin(), activation.env.end(),
                         [&](const auto& kv) { return kv.first == key; });
  if (it != activation.env.end())
    it->second = value;
  else
    activation.env.emplace_back(key, value);
}

} // namespace

void read_distenv_toml(Environment& env, const fs::path& file) {
  TomlDoc doc = parse_toml_file(file, display_path(file, env.project_dir));
  Activation& act = env.activation;
  for (const auto& [key_, value] : doc.table) {
    const std::string key(key_.str());
    if (key == "roots") {
      for (const std::string& declared : expect_strings(doc, value, key)) {
        fs::path p(declared);
        if (!p.is_absolute())
          p = env.project_dir / p;
        boost::system::error_code ec;
        if (!fs::is_directory(p, ec))
          throw InputError(fmt::format("{}: root \"{}\" is not a directory ({})", doc.where(value), declared,
                                       p.lexically_normal().string()));
        add_root(env, fs::canonical(p, ec), doc.where(value), declared);
        env.whole_roots.push_back(fs::canonical(p, ec));
      }
    } else if (key == "exclude") {
      for (const std::string& pattern : expect_strings(doc, value, key))
        env.exclude.add(pattern);
    } else if (key == "mutable") {
      for (const std::string& pattern : expect_strings(doc, value, key))
        env.mutable_patterns.push_back(pattern);
    } else if (key == "gitignore") {
      if (!value.as_boolean())
        throw InputError(fmt::format("{}: gitignore must be true or false", doc.where(value)));
      env.gitignore = env.gitignore && value.as_boolean()->get();
    } else if (key == "runtime") {
      act.runtime = expect_string(doc, value, key);
    } else if (key == "runtime_hint") {
      act.runtime_hint = expect_string(doc, value, key);
    } else if (key == "command") {
      if (value.as_string())
        act.command = {"sh", "-c", value.as_string()->get()};
      else
        act.command = expect_strings(doc, value, key);
    } else if (key == "each_machine") {
      if (value.as_string())
        act.each_machine = {value.as_string()->get()};
      else
        act.each_machine = expect_strings(doc, value, key);
    } else if (key == "collect") {
      for (const std::string& pattern : expect_strings(doc, value, key)) {
        if (const std::string why = collect_problem(pattern); !why.empty())
          throw InputError(fmt::format("{}: collect \"{}\": {}", doc.where(value), pattern, why));
        act.collect.push_back(pattern);
      }
    } else if (key == "env") {
      const auto* table = value.as_table();
      if (!table)
        throw InputError(fmt::format("{}: env must be a table", doc.where(value)));
      for (const auto& [name, v] : *table) {
        const std::string value = expect_string(doc, v, "env." + std::string(name.str()));
        if (value.find('\0') != std::string::npos || name.str().find('=') != std::string_view::npos)
          throw InputError(
              fmt::format("{}: env.{}: a variable's name cannot hold '=' nor its value a NUL byte",
                          doc.where(v), name.str()));
        set_env(act, std::string(name.str()), value);
      }
    } else {
      throw InputError(fmt::format("{}: unknown key '{}' (known: roots, exclude, mutable, gitignore, "
                                   "env, runtime, runtime_hint, command, each_machine, collect)",
                                   doc.where(value), key));
    }
  }
}

} // namespace distenv::env
