#include "runs/history.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "support/temp_dir.h"

namespace cutover {
namespace {

TEST(History, RecordsAndListsDeploysNewestFirst) {
  testing::TempDir dir;
  auto history = History::open(dir / "h.sqlite").value();
  DeployRecord a;
  a.site = "docs";
  a.source = "./public";
  a.trigger = "cli";
  ASSERT_TRUE(history->begin(a));
  a.status = "succeeded";
  a.version = "20261127-000000-aaaaaa";
  a.stages = {{"store", 12.5}, {"commit", 1.0}};
  a.files = 3;
  ASSERT_TRUE(history->update(a));
  DeployRecord b;
  b.site = "blog";
  ASSERT_TRUE(history->begin(b));

  auto found = history->find(a.id).value();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, "succeeded");
  EXPECT_EQ(found->files, 3U);
  ASSERT_EQ(found->stages.size(), 2U);
  EXPECT_DOUBLE_EQ(found->stages[0].ms, 12.5);
  EXPECT_EQ(history->list("", 10).value().size(), 2U);
  EXPECT_EQ(history->list("docs", 10).value().size(), 1U);
  EXPECT_EQ(history->findByVersion("docs", a.version).value()->id, a.id);
}

// A `cutover pipeline` and a `cutover pipeline run` started together both open a history file
// that does not exist yet: each must get it (SQLite refuses a second connection's switch to WAL
// mode at once, without waiting, while another connection makes the same switch).
TEST(History, ProcessesOpeningANewFileAtTheSameTimeAllGetIt) {
  for (int round = 0; round < 100; ++round) {
    testing::TempDir dir;
    constexpr int kProcesses = 8;
    std::vector<pid_t> children;
    for (int i = 0; i < kProcesses; ++i) {
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        auto history = History::open(dir / "h.sqlite");
        DeployRecord r;
        r.site = "docs";
        bool ok = history && (*history)->begin(r);
        if (!history) std::fprintf(stderr, "open: %s\n", history.error().message.c_str());
        ::_exit(ok ? 0 : 1);
      }
      children.push_back(pid);
    }
    int failed = 0;
    for (pid_t pid : children) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    }
    ASSERT_EQ(failed, 0) << "round " << round << ": " << failed << " of " << kProcesses
                         << " processes could not open or write a new history file";
    auto history = History::open(dir / "h.sqlite").value();
    EXPECT_EQ(history->list("docs", 100).value().size(), static_cast<std::size_t>(kProcesses));
  }
}

TEST(History, ADeployWhoseProcessDiedIsMarkedFailedOnOpen) {
  testing::TempDir dir;
  pid_t child = ::fork();
  if (child == 0) {
    auto history = History::open(dir / "h.sqlite").value();
    DeployRecord r;
    r.site = "docs";
    (void)history->begin(r);
    ::_exit(0);  // dies "mid-deploy"
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  auto history = History::open(dir / "h.sqlite").value();
  auto records = history->list("docs", 10).value();
  ASSERT_EQ(records.size(), 1U);
  EXPECT_EQ(records[0].status, "failed");
  EXPECT_NE(records[0].error.find("interrupted"), std::string::npos);
}

// Rollbacks and activations are part of the history: who flipped which site from which version
// to which, and when; the deploy that built a version is still the one findByVersion names.
TEST(History, FlipsAreRecordedWithTheirVersionsAndWhoMadeThem) {
  testing::TempDir dir;
  auto history = History::open(dir / "h.sqlite").value();
  DeployRecord built;
  built.site = "docs";
  built.trigger = "push";
  ASSERT_TRUE(history->begin(built));
  built.status = "succeeded";
  built.version = "v2";
  ASSERT_TRUE(history->update(built));

  auto flip = history->recordFlip("docs", "rollback", "v2", "v1", "user ada");
  ASSERT_TRUE(flip) << flip.error().message;
  auto back = history->recordFlip("docs", "activate", "v1", "v2", "token tok-1");
  ASSERT_TRUE(back);

  auto listed = history->list("docs", 10).value();
  ASSERT_EQ(listed.size(), 3U);
  EXPECT_EQ(listed[0].id, back->id);
  EXPECT_EQ(listed[0].trigger, "activate");
  EXPECT_EQ(listed[0].previous, "v1");
  EXPECT_EQ(listed[0].version, "v2");
  EXPECT_EQ(listed[0].actor, "token tok-1");
  EXPECT_TRUE(listed[0].activated);
  EXPECT_EQ(listed[1].trigger, "rollback");
  EXPECT_EQ(listed[1].actor, "user ada");
  EXPECT_EQ(listed[1].toJson()["previous"], "v2");
  EXPECT_EQ(history->findByVersion("docs", "v2").value()->id, built.id);
}

}  // namespace
}  // namespace cutover
