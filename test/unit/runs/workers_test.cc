#include "runs/workers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "common/log.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pointer/records.h"
#include "support/git_fixture.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::GitRepo;
using testing::TempDir;

// The pipeline over real stores in a temp data folder and a real git repository.
class WorkersTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::filesystem::path data_ = dir_ / "data";
  GitRepo repo_{dir_.path()};
  ObjectStorePtr objects_ = makeObjectStore((data_ / "objects").string());
  PointerStorePtr pointers_ = makePointerStore((data_ / "pointers").string());
  std::unique_ptr<History> history_ =
      History::open((std::filesystem::create_directories(data_), data_ / "deploys.sqlite")).value();

  Config config(const std::string& build = "sh build.sh") {
    Config c;
    c.file = dir_ / "cutover.toml";
    SiteConfig site;
    site.name = "docs";
    site.repo = repo_.bare().string();
    site.build = build;
    site.output = "public";
    site.build_timeout = std::chrono::seconds(30);
    c.sites.push_back(site);
    return c;
  }
  PipelineContext context() {
    return PipelineContext{objects_.get(), pointers_.get(), history_.get(), nullptr,
                           data_ / "store.lock"};
  }
  std::unique_ptr<Workers> start(Config c, unsigned threads = 2,
                                 std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    WorkersOptions options;
    options.data_dir = data_;
    options.threads = threads;
    options.shutdown_grace = grace;
    auto w = Workers::start(std::move(c), context(), options);
    EXPECT_TRUE(w) << w.error().message;
    return std::move(*w);
  }
  // Waits until the deploy has an outcome (up to 30 s).
  DeployRecord waitFor(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = history_->find(id).value();
      if (r && r->finishedOutcome()) return *r;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "deploy " << id << " did not finish";
    return {};
  }
  std::string live() {
    auto p = readLivePointer(*pointers_, "docs").value();
    return p ? p->version : "";
  }
};

// `sandbox = false` is an explicit opt-out, said at start for each site that takes it, and
// for no other.
TEST_F(WorkersTest, StartingWarnsAboutEachSiteThatBuildsWithoutASandbox) {
  Config c = config();
  c.sites[0].sandbox = false;
  SiteConfig confined = c.sites[0];
  confined.name = "blog";
  confined.sandbox = true;
  c.sites.push_back(confined);
  log::Capture capture;
  auto workers = start(std::move(c));
  auto messages = capture.messages();
  auto warns_about = [&](const std::string& site) {
    return std::count_if(messages.begin(), messages.end(), [&](const std::string& m) {
      return m.find("site " + site + " builds without a sandbox (sandbox = false)") !=
             std::string::npos;
    });
  };
  EXPECT_EQ(warns_about("docs"), 1);
  EXPECT_EQ(warns_about("blog"), 0);
}

TEST_F(WorkersTest, ASubmittedCommitIsBuiltAndGoesLiveUnderItsShortCommitId) {
  auto sha = repo_.commit("mkdir -p public && echo v1 > public/index.html\n", "Add the home page");
  repo_.push();
  auto workers = start(config());
  auto id = workers->submit({"docs", "manual", sha});
  ASSERT_TRUE(id) << id.error().message;
  auto queued = history_->find(*id).value();
  ASSERT_TRUE(queued);
  auto r = waitFor(*id);
  EXPECT_EQ(r.status, "succeeded") << r.error;
  EXPECT_EQ(r.commit, sha);
  EXPECT_EQ(r.commit_message, "Add the home page");
  EXPECT_EQ(r.commit_author, "Ada Lovelace <ada@example.com>");
  EXPECT_EQ(r.trigger, "manual");
  EXPECT_EQ(r.version.substr(0, 8), sha.substr(0, 7) + "-");
  EXPECT_EQ(live(), r.version);
  std::vector<std::string> stages;
  for (const auto& m : r.timeline) stages.push_back(m.name);
  EXPECT_EQ(stages, (std::vector<std::string>{"queued", "fetching", "building", "uploading",
                                              "activating", "finished"}));
  for (std::size_t i = 1; i < r.timeline.size(); ++i) {
    EXPECT_LE(r.timeline[i - 1].at_ms, r.timeline[i].at_ms);
  }
  EXPECT_TRUE(std::filesystem::exists(r.log));
  EXPECT_NE(testing::readFile(r.log).find("live: docs → " + r.version), std::string::npos);
  // The same commit built again is a new, distinct version.
  auto again = workers->submit({"docs", "manual", sha});
  auto r2 = waitFor(*again);
  EXPECT_EQ(r2.status, "succeeded") << r2.error;
  EXPECT_NE(r2.version, r.version);
  EXPECT_EQ(r2.version.substr(0, 7), sha.substr(0, 7));
  // No workspace is left behind.
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(data_ / "tmp")) {
    if (e.path().filename().string().starts_with("build-")) left.push_back(e.path().string());
  }
  EXPECT_TRUE(left.empty());
}

TEST_F(WorkersTest, AFailingBuildIsRecordedWithItsTailAndTheLiveSiteStays) {
  auto good = repo_.commit("mkdir -p public && echo good > public/index.html\n", "good");
  repo_.push();
  auto workers = start(config());
  auto ok = waitFor(workers->submit({"docs", "manual", good}).value());
  ASSERT_EQ(ok.status, "succeeded") << ok.error;
  auto bad = repo_.commit("echo 'Syntax error in page.md' >&2\nexit 1\n", "bad");
  repo_.push();
  auto failed = waitFor(workers->submit({"docs", "push", bad}).value());
  EXPECT_EQ(failed.status, "failed");
  EXPECT_NE(failed.error.find("exited with status 1"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("Syntax error in page.md"), std::string::npos) << failed.error;
  EXPECT_EQ(failed.commit, bad);
  EXPECT_EQ(live(), ok.version);
}

TEST_F(WorkersTest, RequestsArrivingDuringABuildCollapseToTheNewest) {
  auto counter = dir_ / "builds.txt";
  std::vector<std::string> commits;
  for (int i = 0; i < 5; ++i) {
    commits.push_back(repo_.commit("echo build >> " + counter.string() +
                                       "\nsleep 0.4\nmkdir -p public && echo v" +
                                       std::to_string(i) + " > public/index.html\n",
                                   "v" + std::to_string(i)));
  }
  repo_.push();
  // The builds count themselves in a file outside their workspace, which a sandbox forbids.
  auto unconfined = config();
  unconfined.sites.front().sandbox = false;
  auto workers = start(unconfined);
  std::vector<std::string> ids;
  for (const auto& sha : commits) {
    ids.push_back(workers->submit({"docs", "push", sha}).value());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto last = waitFor(ids.back());
  EXPECT_EQ(last.status, "succeeded") << last.error;
  auto runs = testing::readFile(counter);
  auto builds = std::count(runs.begin(), runs.end(), '\n');
  EXPECT_GE(builds, 1);
  EXPECT_LE(builds, 2);
  // Five requests, at most two builds: every other request was superseded, none failed. (Which
  // ones depends on when the first was taken; the newest always runs.)
  int superseded = 0, succeeded = 0;
  for (const auto& id : ids) {
    auto r = waitFor(id);
    if (r.status == "superseded") ++superseded;
    if (r.status == "succeeded") ++succeeded;
    EXPECT_NE(r.status, "failed") << r.error;
  }
  EXPECT_EQ(superseded + succeeded, 5);
  EXPECT_LE(succeeded, 2);
  EXPECT_EQ(live(), last.version);
  EXPECT_EQ(last.version.substr(0, 7), commits.back().substr(0, 7));
}

// `pipeline run --preview`: the build knows it is one, its version is stored with an open preview
// link and never goes live, and a queued preview request never supersedes a production one (nor
// the other way round).
TEST_F(WorkersTest, APreviewBuildIsStoredWithItsLinkOpenAndNeverGoesLive) {
  auto sha = repo_.commit("mkdir -p public && echo \"$CUTOVER_CONTEXT\" > public/index.html\n",
                          "Say the context");
  repo_.push();
  DeployRequest production{"docs", "manual", sha};
  DeployRequest preview{"docs", "manual", sha};
  preview.preview = true;
  // Both queued before any worker runs: the newest (the preview) is taken first.
  auto production_id = enqueueDeploy(*history_, data_, production).value();
  auto preview_id = enqueueDeploy(*history_, data_, preview).value();
  auto workers = start(config());
  auto built = waitFor(preview_id);
  auto went_live = waitFor(production_id);
  ASSERT_EQ(built.status, "succeeded") << built.error;
  ASSERT_EQ(went_live.status, "succeeded") << went_live.error;
  EXPECT_TRUE(built.preview);
  EXPECT_FALSE(built.activated);
  EXPECT_TRUE(went_live.activated);
  EXPECT_EQ(live(), went_live.version);
  auto content = [&](const std::string& version) {
    auto manifest = objects_->readManifest("docs", version).value();
    return objects_->readBlob(manifest.files.at("index.html").hash).value();
  };
  EXPECT_EQ(content(built.version), "preview\n");
  EXPECT_EQ(content(went_live.version), "production\n");
  auto link = pointers_->get(previewKey("docs", built.version)).value();
  ASSERT_TRUE(link);
  EXPECT_GT(parseUnixSeconds(*link).value_or(0), std::time(nullptr) + 6 * 24 * 3600);
  EXPECT_TRUE(history_->find(preview_id).value()->preview);
}

TEST_F(WorkersTest, StopKillsABuildThatOutlivesTheGraceAndRecordsItFailed) {
  auto sha = repo_.commit("sleep 1000\n", "slow");
  repo_.push();
  auto workers = start(config(), 1, std::chrono::milliseconds(200));
  auto id = workers->submit({"docs", "manual", sha}).value();
  for (int i = 0; i < 500; ++i) {
    auto r = history_->find(id).value();
    if (r && r->stage == "building") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto before = std::chrono::steady_clock::now();
  workers->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(8));
  auto r = history_->find(id).value();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, "failed");
  EXPECT_NE(r->error.find("shut down"), std::string::npos) << r->error;
  EXPECT_FALSE(workers->submit({"docs", "manual", sha}));
}

TEST_F(WorkersTest, RequestsQueuedByAnotherProcessAreBuiltAndABadRequestIsRefused) {
  auto sha = repo_.commit("mkdir -p public && echo q > public/index.html\n", "queued");
  repo_.push();
  // Queued with no worker running (as a git hook does), taken when the workers start.
  auto id = enqueueDeploy(*history_, data_, {"docs", "push", sha}).value();
  EXPECT_FALSE(pipelineRunning(data_));
  auto workers = start(config());
  EXPECT_TRUE(pipelineRunning(data_));
  EXPECT_EQ(waitFor(id).status, "succeeded");
  EXPECT_FALSE(workers->submit({"blog", "manual"}));  // no repo configured for blog
  EXPECT_FALSE(workers->submit({"Bad Name", "manual"}));
  EXPECT_FALSE(workers->submit({"docs", "manual", "not-a-sha"}));
  workers->stop();
  EXPECT_FALSE(pipelineRunning(data_));
}

}  // namespace
}  // namespace cutover
