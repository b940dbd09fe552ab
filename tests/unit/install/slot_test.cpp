// A project's stable place: one path per project across its versions.
#include <distenv/install/slot.hpp>
#include <distenv/install/store.hpp>
#include <distenv/util/error.hpp>

#include "support/temp_dir.hpp"

#include <boost/filesystem/operations.hpp>
#include <gtest/gtest.h>

#include <optional>

using namespace distenv;
using distenv::test::TempDir;

namespace {

// Three "installed" environments (directories are enough for the places).
struct Three {
  TempDir t;
  install::Store store{t / "dest"};
  std::vector<hash::Hash128> trees{hash::hash_bytes("v1"), hash::hash_bytes("v2"), hash::hash_bytes("v3")};
  Three() {
    store.open();
    for (const auto& h : trees)
      fs::create_directories(store.path_of(h));
  }
  fs::path target(const install::ProjectSlot& s) { return fs::read_symlink(s.path()); }
};

} // namespace

TEST(ProjectSlot, ANewVersionTakesThePlaceOfTheLastWhenNoJobHoldsIt) {
  Three c;
  fs::path first;
  {
    const install::ProjectSlot s(c.store, "alice/sweep", c.trees[0]);
    first = s.path();
    EXPECT_EQ(first, c.store.dest() / "projects/alice-sweep");
    EXPECT_EQ(c.target(s), fs::path("../envs") / c.trees[0].hex());
  }
  const install::ProjectSlot s(c.store, "alice/sweep", c.trees[1]);
  EXPECT_EQ(s.path(), first) << "the same path for the next version";
  EXPECT_EQ(c.target(s), fs::path("../envs") / c.trees[1].hex());
  EXPECT_TRUE(fs::is_directory(s.path())) << "it resolves";
}

TEST(ProjectSlot, ARunningJobKeepsItsVersionAndAnotherVersionTakesTheNextPlace) {
  Three c;
  std::optional<install::ProjectSlot> running(std::in_place, c.store, "alice/sweep", c.trees[0]);
  std::optional<install::ProjectSlot> same(std::in_place, c.store, "alice/sweep", c.trees[0]);
  EXPECT_EQ(same->path(), running->path()) << "two jobs of one version share the place";
  const install::ProjectSlot other(c.store, "alice/sweep", c.trees[1]);
  EXPECT_EQ(other.path(), c.store.dest() / "projects/alice-sweep~2");
  EXPECT_EQ(c.target(*running), fs::path("../envs") / c.trees[0].hex()) << "not pulled from under the job";
  running.reset();
  same.reset();
  const install::ProjectSlot next(c.store, "alice/sweep", c.trees[2]);
  EXPECT_EQ(next.path(), c.store.dest() / "projects/alice-sweep") << "free again";
}

TEST(ProjectSlot, GcRemovesPlacesWhoseEnvironmentIsGoneUnlessHeld) {
  Three c;
  { const install::ProjectSlot a(c.store, "a", c.trees[0]); }
  const install::ProjectSlot b(c.store, "b", c.trees[1]);
  fs::remove_all(c.store.path_of(c.trees[0]));
  fs::remove_all(c.store.path_of(c.trees[1]));
  install::collect_slots(c.store);
  EXPECT_FALSE(fs::exists(fs::symlink_status(c.store.dest() / "projects/a")));
  EXPECT_TRUE(fs::exists(fs::symlink_status(c.store.dest() / "projects/b"))) << "a job holds it";
}

TEST(ProjectSlot, SomethingElseWhereAPlaceShouldBeIsRefused) {
  Three c;
  fs::create_directories(c.store.dest() / "projects/alice-sweep");
  EXPECT_THROW(install::ProjectSlot(c.store, "alice/sweep", c.trees[0]), InputError);
}
