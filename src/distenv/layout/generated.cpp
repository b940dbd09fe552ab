// The files of an install tree the layout writes itself: rewritten TOML files, the metadata.
#include <distenv/layout/generated.hpp>

#include <distenv/env/julia.hpp>
#include <distenv/layout/rewrite.hpp>
#include <distenv/util/error.hpp>
#include <distenv/util/files.hpp>

#include <map>
#include <vector>

namespace distenv::layout {

namespace {

using hash::EntryType;

FileEntry& entry_for(Tree& tree, const std::string& path) {
  for (FileEntry& e : tree.entries)
    if (e.path == path)
      return e;
  FileEntry e;
  e.path = path;
  tree.entries.push_back(std::move(e));
  return tree.entries.back();
}

void set_content(FileEntry& e, std::string content) {
  e.type = EntryType::file;
  if (e.mode != 0755)
    e.mode = 0644;
  e.size = content.size();
  e.hash = hash::hash_bytes(content);
  e.content = std::move(content);
}

} // namespace

void set_file(Tree& tree, const std::string& path, std::string content) {
  set_content(entry_for(tree, path), std::move(content));
}

void apply_rewrites(const env::Environment& env, const Layout& layout, Tree& tree) {
  std::map<fs::path, std::vector<const env::PathRef*>> by_file;
  for (const env::PathRef& ref : env.path_refs)
    by_file[ref.file].push_back(&ref);
  for (const auto& [file, refs] : by_file) {
    const std::string installed = layout.to_install(file);
    std::vector<StringEdit> edits;
    for (const env::PathRef* ref : refs) {
      std::string value = generic(ref->target.lexically_relative(file.parent_path()));
      if (value.empty())
        value = ".";
      edits.push_back({ref->line, ref->column, value});
      tree.rewritten.push_back({installed, ref->where, ref->original, value, layout.to_install(ref->target)});
    }
    std::string text;
    try {
      text = read_file(file);
    } catch (const Error& e) {
      throw InputError(e.what());
    }
    set_file(tree, installed, rewrite_strings(text, edits, env::display_path(file, env.project_dir)));
  }
}

Metadata make_metadata(const env::Environment& env, const Layout& layout) {
  Metadata m;
  m.kind = env.kind == env::Kind::julia ? "julia" : "generic";
  m.project = layout.project;
  m.project_file = env.project_file.empty() ? "" : layout.to_install(env.project_file);
  m.manifest = env.manifest_file.empty() ? "" : layout.to_install(env.manifest_file);
  m.env = env.activation.env;
  m.runtime = env.activation.runtime;
  m.runtime_hint = env.activation.runtime_hint;
  m.command = env.activation.command;
  m.each_machine = env.activation.each_machine;
  m.mutable_files = env.mutable_patterns;
  for (const env::DevPackage& d : env.dev_packages)
    m.dev_packages.push_back({d.name, d.uuid, layout.to_install(d.source)});
  return m;
}

void mark_mutable(const env::Environment& env, const Layout& layout, Tree& tree) {
  if (env.mutable_patterns.empty())
    return;
  env::IgnoreRules rules;
  for (const std::string& p : env.mutable_patterns)
    rules.add(p);
  const std::string prefix = layout.project.empty() ? "" : layout.project + "/";
  for (FileEntry& e : tree.entries) {
    if (e.type != EntryType::file || e.path.compare(0, prefix.size(), prefix) != 0)
      continue;
    const std::string_view rel = std::string_view(e.path).substr(prefix.size());
    e.mutable_file = rules.covers(rel, false);
  }
}

} // namespace distenv::layout
