#pragma once

#include <distenv/env/environment.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/layout/metadata.hpp>

namespace distenv::layout {

// The files the layout writes itself rather than copies. Every manifest and
// project file with a path to rewrite, in `tree` as its rewritten text (the
// edits spliced into the original, layout/rewrite.hpp), each edit recorded
// in tree.rewritten. InputError when such a file cannot be read.
void apply_rewrites(const env::Environment& env, const Layout& layout, Tree& tree);

// `path` in `tree` (added when missing) as a regular file holding `content`.
void set_file(Tree& tree, const std::string& path, std::string content);

// .distenv/environment.json's contents for `env` installed as `layout`.
Metadata make_metadata(const env::Environment& env, const Layout& layout);

// Marks the project's files that distenv.toml `mutable` names (the file, or
// a directory above it, matches a pattern, relative to the project).
void mark_mutable(const env::Environment& env, const Layout& layout, Tree& tree);

} // namespace distenv::layout
