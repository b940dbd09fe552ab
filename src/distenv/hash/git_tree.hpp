#pragma once

#include <boost/filesystem/path.hpp>

#include <string>

namespace distenv::hash {

// Git's tree hash of the directory `dir`, as Julia's package manager
// computes a package's `git-tree-sha1` (Pkg.GitTools.tree_hash): SHA-1 of
// git's tree objects, entries sorted as git sorts them (a directory as its
// name and "/"), `.git` skipped, a directory with no file anywhere below it
// skipped (git cannot hold one), a file's mode by its owner's execute bit
// (100755, else 100644), a symlink (120000) by its target. 40 lowercase hex
// digits. Error naming the path when something cannot be read; InputError for
// what git cannot hold (a FIFO, a device, a socket).
std::string git_tree_sha1(const boost::filesystem::path& dir);

} // namespace distenv::hash
