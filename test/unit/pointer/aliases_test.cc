#include "cutover/pointer/aliases.h"

#include <gtest/gtest.h>

#include <string>

#include "cutover/common/names.h"
#include "cutover/pointer/pointer_store.h"

namespace cutover {
namespace {

// A branch's alias is one DNS label that leaves room for "--<site>", and a pull request's
// alias cannot be claimed by a branch.
TEST(Aliases, ABranchBecomesOneDnsSafeLabel) {
  EXPECT_EQ(aliasForBranch("feature/login", "docs"), "feature-login");
  EXPECT_EQ(aliasForBranch("Feature/Login_Page", "docs"), "feature-login-page");
  EXPECT_EQ(aliasForBranch("fix--double//slash.", "docs"), "fix-double-slash");
  EXPECT_EQ(aliasForBranch("main", "docs"), "main");
  for (const std::string& branch : {std::string("pr-12"), std::string("///"), std::string(200, 'a'),
                                    std::string("ünïcödé"), std::string("PR-3")}) {
    std::string name = aliasForBranch(branch, "docs");
    EXPECT_TRUE(validateVersionId(name)) << branch << " → " << name;
    EXPECT_LE(name.size() + 6, 63U) << name;  // "<name>--docs" is one label
    EXPECT_FALSE(name.starts_with("pr-") &&
                 name.find_first_not_of("0123456789", 3) == std::string::npos)
        << name;
    EXPECT_EQ(aliasForBranch(branch, "docs"), name);  // deterministic
  }
  EXPECT_NE(aliasForBranch(std::string(200, 'a'), "docs"),
            aliasForBranch(std::string(201, 'a'), "docs"));
  EXPECT_EQ(pullRequestAlias(12), "pr-12");
}

// Each flip of an alias keeps the versions it named before (for pins), moves its expiry on, and
// two branches that come out as the same name get one each.
TEST(Aliases, FlipsKeepHistoryAndBranchesThatCollideGetTheirOwnName) {
  auto pointers = makePointerStore("memory:");
  std::int64_t now = 1'800'000'000;
  AliasTarget login{"docs", "feature/login", 0, "c1", 3600};
  auto first = flipAlias(*pointers, login, "v1", "d-1", now).value();
  EXPECT_EQ(first.first, "feature-login");
  EXPECT_EQ(first.second.until, now + 3600);
  auto second = flipAlias(*pointers, login, "v2", "d-2", now + 10).value();
  EXPECT_EQ(second.first, "feature-login");
  EXPECT_EQ(second.second.pointer.version, "v2");
  EXPECT_EQ(second.second.pointer.previous, "v1");
  ASSERT_EQ(second.second.pointer.retired.size(), 1U);
  EXPECT_EQ(second.second.pointer.retired[0].version, "v1");
  EXPECT_EQ(second.second.until, now + 10 + 3600);

  AliasTarget other{"docs", "Feature/Login", 0, "c2", 3600};
  auto collided = flipAlias(*pointers, other, "v3", "d-3", now).value();
  EXPECT_NE(collided.first, "feature-login");
  EXPECT_EQ(collided.first, hashedAliasForBranch("Feature/Login", "docs"));
  auto stored = readAlias(*pointers, "docs", "feature-login").value();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->pointer.version, "v2");  // the first branch keeps its name
  EXPECT_EQ(stored->branch, "feature/login");

  AliasTarget pr{"docs", "feature/login", 4, "c4", 3600};
  EXPECT_EQ(flipAlias(*pointers, pr, "v4", "d-4", now).value().first, "pr-4");
  EXPECT_EQ(readAlias(*pointers, "docs", "pr-4").value()->pr, 4U);

  EXPECT_EQ(removeAlias(*pointers, "docs", "pr-4").value().pointer.version, "v4");
  EXPECT_FALSE(readAlias(*pointers, "docs", "pr-4").value());
  EXPECT_EQ(removeAlias(*pointers, "docs", "pr-4").error().code, Errc::not_found);
}

// Over its cap, a site loses its least recently moved aliases, never the one just moved.
TEST(Aliases, TrimmingRetiresTheLeastRecentlyMoved) {
  auto pointers = makePointerStore("memory:");
  std::int64_t now = 1'800'000'000;
  for (int i = 0; i < 4; ++i) {
    AliasTarget t{"docs", "b" + std::to_string(i), 0, "", 3600};
    ASSERT_TRUE(flipAlias(*pointers, t, "v" + std::to_string(i), "d", now + std::int64_t{i} * 10));
  }
  // b0 is the oldest, but it is the one just moved: it stays.
  auto removed = trimAliases(*pointers, "docs", 2, "b0").value();
  EXPECT_EQ(removed, (std::vector<std::string>{"b1", "b2"}));
  auto left = listAliases(*pointers, "docs").value();
  ASSERT_EQ(left.size(), 2U);
  EXPECT_EQ(left[0].first, "b0");
  EXPECT_EQ(left[1].first, "b3");
  EXPECT_TRUE(trimAliases(*pointers, "docs", 2, "b3").value().empty());
}

}  // namespace
}  // namespace cutover
