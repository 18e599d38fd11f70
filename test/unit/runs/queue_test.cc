// The history as the pipeline's queue: schema migration, claims, superseding, dead processes.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runs/history.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

DeployRecord request(const std::string& site, const std::string& commit = {}) {
  DeployRecord r;
  r.site = site;
  r.trigger = "push";
  r.commit = commit;
  return r;
}

TEST(Queue, AnOldHistoryIsMigratedAndKeepsItsDeploys) {
  testing::TempDir dir;
  auto file = dir / "deploys.sqlite";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  // The schema as the first cutover wrote it, with one deploy.
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TABLE deploys (id TEXT PRIMARY KEY, site TEXT NOT NULL, version "
                   "TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', trigger TEXT "
                   "NOT NULL DEFAULT '', status TEXT NOT NULL, activated INTEGER NOT NULL "
                   "DEFAULT 0, started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '', pid "
                   "INTEGER NOT NULL DEFAULT 0, files INTEGER NOT NULL DEFAULT 0, new_files "
                   "INTEGER NOT NULL DEFAULT 0, reused_files INTEGER NOT NULL DEFAULT 0, bytes "
                   "INTEGER NOT NULL DEFAULT 0, new_bytes INTEGER NOT NULL DEFAULT 0, stages "
                   "TEXT NOT NULL DEFAULT '[]', error TEXT NOT NULL DEFAULT '');"
                   "INSERT INTO deploys (id, site, version, status, started, files) VALUES "
                   "('d-old', 'docs', 'v-old', 'succeeded', '2026-01-01T00:00:00Z', 7);",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);

  auto history = History::open(file).value();
  auto old = history->find("d-old").value();
  ASSERT_TRUE(old);
  EXPECT_EQ(old->version, "v-old");
  EXPECT_EQ(old->files, 7U);
  EXPECT_EQ(old->status, "succeeded");
  EXPECT_TRUE(old->timeline.empty());
  // The new columns work, and opening again migrates nothing twice.
  auto r = request("docs", std::string(40, 'a'));
  ASSERT_TRUE(history->enqueue(r));
  history.reset();
  history = History::open(file).value();
  EXPECT_EQ(history->find(r.id).value()->commit, std::string(40, 'a'));
  EXPECT_EQ(history->list("docs", 10).value().size(), 2U);
}

TEST(Queue, TheNewestWaitingRequestOfASiteRunsAndOlderOnesAreSuperseded) {
  testing::TempDir dir;
  auto history = History::open(dir / "h.sqlite").value();
  auto a = request("docs"), b = request("docs"), c = request("docs"), other = request("blog");
  ASSERT_TRUE(history->enqueue(a));
  ASSERT_TRUE(history->enqueue(other));
  ASSERT_TRUE(history->enqueue(b));
  ASSERT_TRUE(history->enqueue(c));

  // docs waited longest, and its newest request wins.
  auto first = history->claim({}).value();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, c.id);
  EXPECT_EQ(first->status, "running");
  EXPECT_EQ(history->find(a.id).value()->status, "superseded");
  EXPECT_NE(history->find(b.id).value()->error.find(c.id), std::string::npos);

  // Another site runs in parallel; docs is busy, so its next request waits.
  auto d = request("docs");
  ASSERT_TRUE(history->enqueue(d));
  auto second = history->claim({}).value();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, other.id);
  EXPECT_FALSE(history->claim({}).value());
  EXPECT_EQ(history->find(d.id).value()->status, "queued");

  // Once docs is done, the waiting one runs.
  first->status = "succeeded";
  ASSERT_TRUE(history->update(*first));
  EXPECT_FALSE(history->claim({"blog"}).value());  // limited to other sites
  auto third = history->claim({"docs"}).value();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->id, d.id);
}

TEST(Queue, ARunningDeployOfADeadProcessFailsAndFreesItsSiteButQueuedOnesStay) {
  testing::TempDir dir;
  std::string queued_id;
  {
    auto history = History::open(dir / "h.sqlite").value();
    auto q = request("blog");
    ASSERT_TRUE(history->enqueue(q));
    queued_id = q.id;
  }
  pid_t child = ::fork();
  if (child == 0) {
    auto history = History::open(dir / "h.sqlite").value();
    auto r = request("docs");
    (void)history->enqueue(r);
    (void)history->claim({"docs"});
    ::_exit(0);  // dies mid-build
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  auto history = History::open(dir / "h.sqlite").value();
  auto docs = history->list("docs", 10).value();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(docs[0].status, "failed");
  EXPECT_NE(docs[0].error.find("interrupted"), std::string::npos);
  EXPECT_EQ(docs[0].timeline.back().name, "finished");
  // A request queued by a process that has gone is still a request: the next worker takes it.
  EXPECT_EQ(history->find(queued_id).value()->status, "queued");
  auto next = history->claim({}).value();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->id, queued_id);
}

}  // namespace
}  // namespace cutover
