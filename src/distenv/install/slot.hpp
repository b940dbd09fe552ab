#pragma once

#include <distenv/hash/hash.hpp>
#include <distenv/util/fd.hpp>

#include <boost/filesystem/path.hpp>

#include <optional>
#include <string>

namespace distenv::install {

class Store;

// A project's stable place on a machine: <dest>/projects/<name>, a symlink
// to the environment a job of that project uses (../envs/<tree hash>). A
// new version of the project points the same place at its environment, so
// paths under it (Julia keys its compiled caches by the absolute path of
// each source file) stay the same from one version to the next, and with
// the files' own mtimes kept (they are the objects'), only what changed is
// compiled again. A job holds its place (a shared flock on
// projects/.<name>.lock) for its life: a version that differs from a
// running job's takes the next place (<name>~2, ...), never pulls the
// running one's files from under it.
class ProjectSlot {
public:
  // Points a free place of `project` (the project's path in the tree,
  // "alice/sweep") at the installed `tree`, or joins one that points there.
  ProjectSlot(const Store& store, const std::string& project, const hash::Hash128& tree);
  ProjectSlot(const ProjectSlot&) = delete;
  ProjectSlot& operator=(const ProjectSlot&) = delete;

  // <dest>/projects/<name>: the environment's root, by its stable name.
  const boost::filesystem::path& path() const { return m_path; }

private:
  boost::filesystem::path m_path;
  Fd m_lock;
};

// The first place of `project` (<dest>/projects/<name>): where its newest
// version is, unless a job of another version held it when that one came.
boost::filesystem::path first_place(const Store& store, const std::string& project);

// The environment the place of `project` pointed last points at (its
// newest version here), if there is one.
std::optional<hash::Hash128> previous_version(const Store& store, const std::string& project);

// gc: places whose environment is gone and that no job holds are removed.
void collect_slots(const Store& store);

} // namespace distenv::install
