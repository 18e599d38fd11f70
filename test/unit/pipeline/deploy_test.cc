#include "cutover/pipeline/deploy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "cutover/common/hash.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/gc.h"
#include "cutover/pointer/records.h"
#include "pipeline/compress_cache.h"
#include "pipeline/stat_cache.h"
#include "pipeline/upload.h"
#include "pointer/memory/memory_pointer_store.h"
#include "read_counting_store.h"
#include "runs/deploy_job.h"
#include "runs/history.h"
#include "runs/workers.h"
#include "store/memory/memory_object_store.h"
#include "support/faulty_object_store.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::TempDir;
using testing::writeFile;

// A site whose every file names the version it belongs to.
void writeSite(const std::filesystem::path& root, const std::string& tag, int files = 5) {
  writeFile(root / "index.html", "<h1>" + tag + "</h1>");
  writeFile(root / "404.html", "missing in " + tag);
  for (int i = 0; i < files; ++i) {
    writeFile(root / "assets" / ("file" + std::to_string(i) + ".css"),
              "body{} /* " + tag + " " + std::to_string(i) + " */");
  }
  writeFile(root / "shared.js", "same in every version");
}

// A stylesheet over 1 KB that compresses well, so a deploy stores brotli and gzip forms of it.
void writeStylesheet(const std::filesystem::path& root, const std::string& tag) {
  std::string css;
  for (int i = 0; css.size() < 4000; ++i) {
    css += ".rule-" + std::to_string(i) + " { color: #" + tag + "; margin: 0 auto; }\n";
  }
  writeFile(root / "assets" / "site.css", css);
}

// Every blob a manifest names: the files and their precompressed forms.
std::set<std::string> blobsOf(const Manifest& manifest) {
  std::set<std::string> blobs;
  for (const auto& [path, entry] : manifest.files) {
    blobs.insert(entry.hash);
    if (entry.br.present()) blobs.insert(entry.br.hash);
    if (entry.gzip.present()) blobs.insert(entry.gzip.hash);
  }
  return blobs;
}

class DeployTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  TempDir dir_;
  std::unique_ptr<History> history_ = History::open(dir_ / "deploys.sqlite").value();

  PipelineContext context(ObjectStore* objects = nullptr) {
    return PipelineContext{objects != nullptr ? objects : objects_.get(), pointers_.get(),
                           history_.get(), nullptr, dir_ / "store.lock"};
  }
  DeployOptions options(const std::filesystem::path& source, bool activate = true) {
    DeployOptions o;
    o.site = "docs";
    o.source = source;
    o.activate = activate;
    o.threads = 2;
    return o;
  }
  std::string liveVersion() {
    auto live = readLivePointer(*pointers_, "docs").value();
    return live ? live->version : "";
  }
};

TEST_F(DeployTest, StoresEveryFileAndFlipsThePointer) {
  writeSite(dir_ / "v1", "v1");
  auto report = deploy(context(), options(dir_ / "v1"));
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_TRUE(report->activated);
  EXPECT_EQ(report->files, 8U);
  EXPECT_EQ(report->new_files, 8U);
  EXPECT_EQ(liveVersion(), report->version);

  auto manifest = objects_->readManifest("docs", report->version).value();
  ASSERT_EQ(manifest.files.size(), 8U);
  EXPECT_EQ(objects_->readBlob(manifest.files.at("index.html").hash).value(), "<h1>v1</h1>");
  EXPECT_EQ(manifest.files.at("index.html").media_type, "text/html; charset=utf-8");
  EXPECT_EQ(manifest.files.at("assets/file0.css").media_type, "text/css; charset=utf-8");

  auto record = history_->find(report->deploy_id).value();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->status, "succeeded");
  EXPECT_EQ(record->version, report->version);
  EXPECT_TRUE(record->activated);
  EXPECT_FALSE(record->stages.empty());
}

TEST_F(DeployTest, SecondDeployWritesOnlyWhatChanged) {
  writeSite(dir_ / "site", "v1");
  ASSERT_TRUE(deploy(context(), options(dir_ / "site")));
  writeFile(dir_ / "site" / "index.html", "<h1>v2</h1>");
  auto report = deploy(context(), options(dir_ / "site"));
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->new_files, 1U);
  EXPECT_EQ(report->reused_files, 7U);
  EXPECT_EQ(report->new_bytes, std::string("<h1>v2</h1>").size());
}

TEST_F(DeployTest, StatCacheSkipsReadingUnchangedFiles) {
  auto cache = StatCache::open(dir_ / "statcache.sqlite").value();
  writeSite(dir_ / "site", "v1", 50);
  testing::FaultyObjectStore counting(objects_, 0);
  auto ctx = context(&counting);
  ctx.stat_cache = cache.get();
  ASSERT_TRUE(deploy(ctx, options(dir_ / "site")));
  auto first_calls = counting.calls();
  writeFile(dir_ / "site" / "index.html", "<h1>changed</h1>");
  auto report = deploy(ctx, options(dir_ / "site"));
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->new_files, 1U);
  // One blob written (newBlob + write + finish), one flush, one manifest: the 52 unchanged
  // files were neither read nor written.
  EXPECT_EQ(counting.calls() - first_calls, 5U);
}

TEST_F(DeployTest, StatCacheHitWhoseBlobIsGoneIsStoredAgain) {
  auto cache = StatCache::open(dir_ / "statcache.sqlite").value();
  writeSite(dir_ / "site", "v1");
  auto ctx = context();
  ctx.stat_cache = cache.get();
  auto first = deploy(ctx, options(dir_ / "site")).value();
  auto manifest = objects_->readManifest("docs", first.version).value();
  ASSERT_TRUE(objects_->deleteBlob(manifest.files.at("shared.js").hash));
  auto second = deploy(ctx, options(dir_ / "site"));
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_EQ(second->new_files, 1U);
  EXPECT_EQ(objects_->readBlob(manifest.files.at("shared.js").hash).value(),
            "same in every version");
}

TEST_F(DeployTest, NoActivateStoresWithoutFlipping) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  auto v1 = deploy(context(), options(dir_ / "v1")).value();
  auto v2 = deploy(context(), options(dir_ / "v2", false));
  ASSERT_TRUE(v2);
  EXPECT_FALSE(v2->activated);
  EXPECT_EQ(liveVersion(), v1.version);
  ASSERT_TRUE(objects_->readManifest("docs", v2->version));
  ASSERT_TRUE(activateVersion(*objects_, *pointers_, "docs", v2->version));
  EXPECT_EQ(liveVersion(), v2->version);
}

// `cutover lock`: a deploy of a locked site is stored and reported locked, not made live; an
// activation or rollback flips it and (by default) locks it; unlock lets the next deploy go live.
TEST_F(DeployTest, ALockedSiteStoresDeploysWithoutFlippingUntilUnlocked) {
  for (auto tag : {"v1", "v2", "v3", "v4"}) writeSite(dir_ / tag, tag);
  auto v1 = deploy(context(), options(dir_ / "v1")).value();
  ASSERT_TRUE(setDeployLock(*pointers_, "docs", DeployLock{"launch freeze", "user ada", "now"}));
  auto v2 = deploy(context(), options(dir_ / "v2"));
  ASSERT_TRUE(v2) << v2.error().describe();
  EXPECT_FALSE(v2->activated);
  ASSERT_TRUE(v2->locked);
  EXPECT_EQ(v2->locked->reason, "launch freeze");
  ASSERT_EQ(v2->warnings.size(), 1U);
  EXPECT_NE(v2->warnings[0].find("site docs is locked (launch freeze, user ada)"),
            std::string::npos)
      << v2->warnings[0];
  EXPECT_EQ(liveVersion(), v1.version);
  EXPECT_TRUE(history_->find(v2->deploy_id).value()->locked);
  EXPECT_TRUE(objects_->readManifest("docs", v2->version));

  // An activation flips a locked site and keeps the lock; so does a rollback.
  ASSERT_TRUE(activateVersion(*objects_, *pointers_, "docs", v2->version));
  EXPECT_EQ(liveVersion(), v2->version);
  EXPECT_EQ(readLivePointer(*pointers_, "docs").value()->lock->reason, "launch freeze");
  ASSERT_TRUE(setDeployLock(*pointers_, "docs", std::nullopt));
  EXPECT_FALSE(readLivePointer(*pointers_, "docs").value()->lock);
  auto v3 = deploy(context(), options(dir_ / "v3")).value();
  EXPECT_TRUE(v3.activated);
  EXPECT_FALSE(v3.locked);

  // A rollback that locks: the next deploy does not undo it.
  auto back = rollback(*objects_, *pointers_, "docs", lockForFlip("rollback", "user ada"));
  ASSERT_TRUE(back);
  EXPECT_EQ(liveVersion(), v2->version);
  ASSERT_TRUE(back->pointer.lock);
  EXPECT_EQ(back->pointer.lock->by, "user ada");
  auto v4 = deploy(context(), options(dir_ / "v4")).value();
  EXPECT_FALSE(v4.activated);
  EXPECT_EQ(liveVersion(), v2->version);

  // A site with no live version has nothing to lock.
  auto none = setDeployLock(*pointers_, "blog", DeployLock{"x", "y", "z"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::not_found);
}

// A pointer store that locks the site just before the deploy's flip: the lock arrived while the
// deploy ran, so the flip's compare-and-set loses to it.
class LockingBeforeTheFlip : public PointerStore {
 public:
  explicit LockingBeforeTheFlip(PointerStore& inner) : inner_(inner) {}
  Result<std::optional<std::string>> get(const std::string& key) override {
    return inner_.get(key);
  }
  Result<void> compareAndSet(const std::string& key, const std::optional<std::string>& expected,
                             const std::optional<std::string>& desired) override {
    if (armed_ && key == liveKey("docs")) {
      armed_ = false;
      EXPECT_TRUE(setDeployLock(inner_, "docs", DeployLock{"frozen meanwhile", "user bo", "now"}));
    }
    return inner_.compareAndSet(key, expected, desired);
  }
  Result<std::map<std::string, std::string>> list(const std::string& prefix) override {
    return inner_.list(prefix);
  }
  Result<WatchHandlePtr> watch(const std::string& prefix,
                               std::function<void(const PointerEvent&)> callback) override {
    return inner_.watch(prefix, std::move(callback));
  }
  bool armed_ = false;

 private:
  PointerStore& inner_;
};

TEST_F(DeployTest, ALockSetWhileTheDeployRanKeepsItFromGoingLiveWithoutAnError) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  auto v1 = deploy(context(), options(dir_ / "v1")).value();
  LockingBeforeTheFlip locking(*pointers_);
  locking.armed_ = true;
  auto ctx = context();
  ctx.pointers = &locking;
  auto v2 = deploy(ctx, options(dir_ / "v2"));
  ASSERT_TRUE(v2) << v2.error().describe();
  EXPECT_FALSE(locking.armed_);  // the flip was tried
  EXPECT_FALSE(v2->activated);
  ASSERT_TRUE(v2->locked);
  EXPECT_EQ(v2->locked->reason, "frozen meanwhile");
  EXPECT_EQ(liveVersion(), v1.version);
}

TEST_F(DeployTest, BadInputFailsWithAClearErrorAndChangesNothing) {
  writeSite(dir_ / "v1", "v1");
  auto v1 = deploy(context(), options(dir_ / "v1")).value();
  std::filesystem::create_directories(dir_ / "empty");

  auto empty = deploy(context(), options(dir_ / "empty"));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("no files"), std::string::npos);

  auto absent = deploy(context(), options(dir_ / "nope"));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, Errc::not_found);

  auto bad_site = options(dir_ / "v1");
  bad_site.site = "Bad Name";
  auto named = deploy(context(), bad_site);
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error().code, Errc::invalid_argument);

  EXPECT_EQ(liveVersion(), v1.version);
  EXPECT_EQ(objects_->listVersions("docs").value().size(), 1U);
  auto failed = history_->list("docs", 10).value();
  ASSERT_EQ(failed.size(), 3U);  // the two failed docs deploys and the first one
  EXPECT_EQ(failed[0].status, "failed");
  EXPECT_FALSE(failed[0].error.empty());
}

// Fails the Nth store call of a deploy, for every N the deploy makes, through each way in (see
// pipeline.cc): the live site stays whole and unchanged, no pointer names a partial version, and
// gc removes what each attempt left.
enum class WayIn { folder, archive, build_job, remote };

class FailingDeployTest : public DeployTest, public ::testing::WithParamInterface<WayIn> {
 protected:
  // Deploys `source` (the folder `folder`, or its archive) to docs the way the test is about.
  Result<void> deployThe(WayIn way, ObjectStore& objects, PointerStore& pointers,
                         const std::filesystem::path& folder, const std::filesystem::path& source) {
    PipelineContext ctx{&objects, &pointers, history_.get(), nullptr, dir_ / "store.lock"};
    if (way == WayIn::folder || way == WayIn::archive) {
      auto opts = options(source);
      opts.threads = 1;
      auto report = deploy(ctx, opts);
      if (!report) return tl::unexpected(report.error());
      return {};
    }
    if (way == WayIn::build_job) {
      // An archive queued for the pipeline: its job needs no git.
      auto id =
          enqueueDeploy(*history_, dir_ / "data", DeployRequest{"docs", "api", "", "", source});
      if (!id) return tl::unexpected(id.error());
      auto claimed = history_->claim({}).value();
      EXPECT_TRUE(claimed && claimed->id == *id);
      runDeployJob(std::move(*claimed), Config{}, ctx, dir_ / "data", {});
      auto record = history_->find(*id).value();
      if (record->is(DeployStatus::succeeded)) return {};
      return fail(Errc::io, record->error);
    }
    // The remote deploy's server half, driven as the API's routes drive it.
    std::vector<std::pair<std::string, std::string>> files;  // path, bytes
    for (const auto& entry : std::filesystem::recursive_directory_iterator(folder)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      files.emplace_back(entry.path().lexically_relative(folder).string(),
                         std::string(std::istreambuf_iterator<char>(in), {}));
    }
    auto list = RemoteFileList::expect(files.size(), SourceLimits{}, 1ULL << 30).value();
    std::map<std::string, std::string> bytes_of;
    for (const auto& [path, bytes] : files) {
      EXPECT_TRUE(list.add(path, sha256Hex(bytes), bytes.size()));
      bytes_of[sha256Hex(bytes)] = bytes;
    }
    auto upload =
        RemoteUpload::begin(ctx, "docs", "remote", true, kDefaultPreviewSeconds, std::move(list));
    if (!upload) return tl::unexpected(upload.error());
    for (const auto& hash : (*upload)->missing()) {
      std::string_view rest = bytes_of.at(hash);
      auto body = [&](std::span<std::byte> buffer) -> Result<std::size_t> {
        auto n = std::min(buffer.size(), rest.size());
        std::memcpy(buffer.data(), rest.data(), n);
        rest.remove_prefix(n);
        return n;
      };
      auto accepted = (*upload)->accept(objects, hash, bytes_of.at(hash).size(), body);
      if (!accepted) return tl::unexpected(accepted.error());
    }
    std::vector<std::string> missing;
    if (auto ready = (*upload)->ready(objects, missing); !ready) return ready;
    auto report = (*upload)->finish(ctx);
    if (!report) return tl::unexpected(report.error());
    return {};
  }
};

TEST_P(FailingDeployTest, FailureAtAnyStoreCallLeavesTheLiveSiteUnchanged) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2", 12);
  writeStylesheet(dir_ / "v1", "111");
  writeStylesheet(dir_ / "v2", "222");  // so failures while precompressing are covered too
  auto v1 = deploy(context(), options(dir_ / "v1")).value();
  std::filesystem::path source = dir_ / "v2";
  if (GetParam() == WayIn::archive || GetParam() == WayIn::build_job) {  // as a .tar.gz
    source = dir_ / "v2.tar.gz";
    std::string tar = "tar -czf " + source.string() + " -C " + (dir_ / "v2").string() + " .";
    ASSERT_EQ(std::system(tar.c_str()), 0);
  }
  auto v1_manifest = objects_->readManifest("docs", v1.version).value();
  ASSERT_TRUE(v1_manifest.files.at("assets/site.css").br.present());

  std::uint64_t total_calls = 0;
  {
    // The same deploy over stores holding what these hold (v1), its calls counted.
    auto probe = std::make_shared<MemoryObjectStore>();
    MemoryPointerStore probe_pointers;
    PipelineContext plain{probe.get(), &probe_pointers, nullptr, nullptr, dir_ / "store.lock"};
    ASSERT_TRUE(deploy(plain, options(dir_ / "v1")));
    testing::FaultyObjectStore counting(probe, 0);
    auto probed = deployThe(GetParam(), counting, probe_pointers, dir_ / "v2", source);
    ASSERT_TRUE(probed) << probed.error().describe();
    total_calls = counting.calls();
  }
  ASSERT_GT(total_calls, 10U);

  for (std::uint64_t n = 1; n <= total_calls; ++n) {
    testing::FaultyObjectStore faulty(objects_, n);
    auto result = deployThe(GetParam(), faulty, *pointers_, dir_ / "v2", source);
    ASSERT_FALSE(result) << "call " << n << " of " << total_calls
                         << " failed, yet the deploy succeeded";
    EXPECT_NE(result.error().message.find("injected failure"), std::string::npos)
        << result.error().message;
    ASSERT_EQ(liveVersion(), v1.version) << "after failing call " << n;
    for (const auto& hash : blobsOf(v1_manifest)) {
      ASSERT_TRUE(objects_->readBlob(hash)) << hash << " of the live version lost at call " << n;
    }
    ASSERT_EQ(objects_->listVersions("docs").value().size(), 1U)
        << "a partial version was committed";
  }

  auto report = collectGarbage(*objects_, *pointers_, GcOptions{0, false, 0}).value();
  EXPECT_GT(report.removed_blobs, 0U);
  // Exactly v1's blobs: its 9 distinct files and the stylesheet's two forms.
  auto left = objects_->listBlobs().value();
  EXPECT_EQ(std::set<std::string>(left.begin(), left.end()), blobsOf(v1_manifest));
  EXPECT_EQ(left.size(), 11U);

  // And the next deploy goes through.
  auto v2 = deployThe(GetParam(), *objects_, *pointers_, dir_ / "v2", source);
  ASSERT_TRUE(v2) << v2.error().describe();
  EXPECT_NE(liveVersion(), v1.version);
}

std::string wayName(const ::testing::TestParamInfo<WayIn>& info) {
  switch (info.param) {
    case WayIn::folder:
      return "Folder";
    case WayIn::archive:
      return "Archive";
    case WayIn::build_job:
      return "BuildJob";
    case WayIn::remote:
      return "Remote";
  }
  return "";
}
INSTANTIATE_TEST_SUITE_P(FolderAndArchive, FailingDeployTest,
                         ::testing::Values(WayIn::folder, WayIn::archive), wayName);
INSTANTIATE_TEST_SUITE_P(BuildJobAndRemote, FailingDeployTest,
                         ::testing::Values(WayIn::build_job, WayIn::remote), wayName);

// Two deploys that both start before either flips: exactly one wins the flip, the other gets a
// conflict naming its stored version; both are recorded; nothing is lost.
TEST_F(DeployTest, ConcurrentDeploysOfOneSiteNeverLoseAnUpdate) {
  writeSite(dir_ / "a", "a");
  writeSite(dir_ / "b", "b");
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    std::string before = liveVersion();
    std::barrier both_started(2);
    Result<DeployReport> results[2] = {fail(Errc::io, ""), fail(Errc::io, "")};
    auto run = [&](int i) {
      bool waited = false;
      auto opts = options(dir_ / (i == 0 ? "a" : "b"));
      opts.threads = 1;
      opts.progress = [&](std::string_view, std::uint64_t, std::uint64_t, std::uint64_t,
                          std::uint64_t) {
        if (!waited) {
          waited = true;
          both_started.arrive_and_wait();  // both have read the pointer by now
        }
      };
      results[i] = deploy(context(), opts);
      if (!waited) both_started.arrive_and_drop();  // failed early: do not leave the other waiting
    };
    std::thread first(run, 0), second(run, 1);
    first.join();
    second.join();
    int wins = 0;
    for (auto& r : results) {
      if (r) {
        ++wins;
        EXPECT_EQ(r->previous, before);
        EXPECT_EQ(liveVersion(), r->version);
      } else {
        EXPECT_EQ(r.error().code, Errc::conflict);
        EXPECT_NE(r.error().message.find("cutover activate docs"), std::string::npos);
      }
    }
    EXPECT_EQ(wins, 1) << "round " << round;
  }
  EXPECT_EQ(objects_->listVersions("docs").value().size(), 2U * kRounds);
  auto records = history_->list("docs", 100).value();
  EXPECT_EQ(records.size(), 2U * kRounds);
  for (const auto& r : records) EXPECT_FALSE(r.version.empty());
}

TEST_F(DeployTest, RollbackReturnsToThePreviousVersionAndBack) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  auto v1 = deploy(context(), options(dir_ / "v1")).value();
  auto v2 = deploy(context(), options(dir_ / "v2")).value();
  auto back = rollback(*objects_, *pointers_, "docs");
  ASSERT_TRUE(back);
  EXPECT_EQ(liveVersion(), v1.version);
  EXPECT_EQ(back->pointer.previous, v2.version);
  ASSERT_TRUE(rollback(*objects_, *pointers_, "docs"));
  EXPECT_EQ(liveVersion(), v2.version);
}

TEST_F(DeployTest, RollbackOrActivateOfWhatIsNotThereChangesNothing) {
  writeSite(dir_ / "v1", "v1");
  auto none = rollback(*objects_, *pointers_, "docs");
  ASSERT_FALSE(none);
  auto v1 = deploy(context(), options(dir_ / "v1")).value();
  auto first = rollback(*objects_, *pointers_, "docs");
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find("no previous version"), std::string::npos);
  auto missing = activateVersion(*objects_, *pointers_, "docs", "20200101-000000-abcdef");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(liveVersion(), v1.version);
}

TEST_F(DeployTest, GcKeepsLivePreviousAndNewestAndRemovesTheRest) {
  std::vector<std::string> versions;
  for (int i = 0; i < 6; ++i) {
    writeSite(dir_ / "site", "v" + std::to_string(i));
    auto opts = options(dir_ / "site");
    opts.preview_seconds = 0;  // no preview link keeps a version here
    versions.push_back(deploy(context(), opts).value().version);
  }
  // Live is versions[5], previous versions[4]; roll back so live is [4] and previous [5].
  ASSERT_TRUE(rollback(*objects_, *pointers_, "docs"));

  auto dry = collectGarbage(*objects_, *pointers_, GcOptions{1, true, 0}).value();
  EXPECT_EQ(dry.removed_versions.size(), 4U);
  EXPECT_EQ(objects_->listVersions("docs").value().size(), 6U);

  auto report = collectGarbage(*objects_, *pointers_, GcOptions{1, false, 0}).value();
  EXPECT_EQ(report.removed_versions.size(), 4U);
  auto left = objects_->listVersions("docs").value();
  ASSERT_EQ(left.size(), 2U);
  for (const auto& v : left) EXPECT_TRUE(v.version == versions[4] || v.version == versions[5]);
  // Every blob of what is left is still there; the removed versions' own blobs are gone.
  std::size_t referenced = 0;
  for (const auto& v : left) {
    auto manifest = objects_->readManifest("docs", v.version).value();
    for (const auto& [path, entry] : manifest.files) {
      EXPECT_TRUE(objects_->readBlob(entry.hash)) << path;
      ++referenced;
    }
  }
  EXPECT_LT(objects_->listBlobs().value().size(), referenced);  // shared ones stored once
  EXPECT_GT(report.removed_blobs, 0U);
}

TEST_F(DeployTest, DeployStoresPrecompressedFormsWithTheVersion) {
  writeSite(dir_ / "v1", "v1");
  writeStylesheet(dir_ / "v1", "111");
  auto cache = CompressCache::open(dir_ / "compresscache.sqlite").value();
  auto ctx = context();
  ctx.compress_cache = cache.get();
  std::vector<std::string> stages_seen;
  auto opts = options(dir_ / "v1");
  opts.progress = [&](std::string_view stage, std::uint64_t, std::uint64_t, std::uint64_t,
                      std::uint64_t) {
    if (stages_seen.empty() || stages_seen.back() != stage) stages_seen.emplace_back(stage);
  };
  auto report = deploy(ctx, opts);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->precompressed.files, 1U);  // the small files get no forms
  EXPECT_EQ(report->precompressed.compressed, 1U);
  EXPECT_GT(report->precompressed.br_bytes, 0U);
  EXPECT_NE(std::find(stages_seen.begin(), stages_seen.end(), "compress"), stages_seen.end());
  auto manifest = objects_->readManifest("docs", report->version).value();
  const auto& css = manifest.files.at("assets/site.css");
  ASSERT_TRUE(css.br.present());
  ASSERT_TRUE(css.gzip.present());
  EXPECT_LT(css.br.size, css.size / 4);
  EXPECT_EQ(objects_->readBlob(css.br.hash).value().size(), css.br.size);
  EXPECT_FALSE(manifest.files.at("index.html").br.present());

  // The next deploy of the same content takes the forms from the cache.
  auto again = deploy(ctx, opts);
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->precompressed.compressed, 0U);
  EXPECT_EQ(again->precompressed.cached, 1U);
  EXPECT_EQ(objects_->readManifest("docs", again->version).value().files.at("assets/site.css"),
            css);

  auto off = options(dir_ / "v1");
  off.precompress = false;
  auto plain = deploy(ctx, off);
  ASSERT_TRUE(plain) << plain.error().describe();
  EXPECT_EQ(plain->precompressed.files, 0U);
  auto plain_manifest = objects_->readManifest("docs", plain->version).value();
  EXPECT_FALSE(plain_manifest.files.at("assets/site.css").br.present());
  EXPECT_FALSE(plain_manifest.files.at("assets/site.css").gzip.present());
}

// The deploy has every file at hand (the folder, or the archive's entries as it reads them), so
// precompression reads nothing back from the store: on S3 that was a GET per compressible file.
class LocalSourceDeployTest : public DeployTest, public ::testing::WithParamInterface<bool> {};

TEST_P(LocalSourceDeployTest, PrecompressionReadsNoBlobBackFromTheStore) {
  writeSite(dir_ / "site", "v1");
  for (const char* tag : {"111", "222", "333"}) {
    writeStylesheet(dir_ / "site" / tag, tag);
  }
  std::filesystem::path source = dir_ / "site";
  if (GetParam()) {
    source = dir_ / "site.tar.gz";
    std::string tar = "tar -czf " + source.string() + " -C " + (dir_ / "site").string() + " .";
    ASSERT_EQ(std::system(tar.c_str()), 0);
  }
  testing::ReadCountingObjectStore counting(objects_);
  auto report = deploy(context(&counting), options(source));
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->precompressed.files, 3U);
  EXPECT_EQ(report->precompressed.read_back, 0U);
  EXPECT_EQ(counting.blobReads(), 0U) << "a local deploy read blobs back from the store";

  auto manifest = objects_->readManifest("docs", report->version).value();
  const auto& css = manifest.files.at("222/assets/site.css");
  ASSERT_TRUE(css.br.present());
  ASSERT_TRUE(css.gzip.present());
  EXPECT_LT(css.gzip.size, css.size / 2);
}

INSTANTIATE_TEST_SUITE_P(FolderAndArchive, LocalSourceDeployTest, ::testing::Bool(),
                         [](const auto& param_info) {
                           return param_info.param ? "Archive" : "Folder";
                         });

// The admin API's remote deploy stores blobs sent over HTTP and finalizes without local copies:
// precompression then reads the content from the store.
TEST_F(DeployTest, FinalizeWithoutLocalCopiesCompressesFromTheStore) {
  writeStylesheet(dir_ / "site", "444");
  auto css = testing::readFile(dir_ / "site" / "assets" / "site.css");
  auto writer = objects_->newBlob().value();
  ASSERT_TRUE(writer->write(std::as_bytes(std::span(css.data(), css.size()))));
  auto stored = writer->finish().value();
  ASSERT_TRUE(objects_->flush());

  FinalizeInput input{"docs", "remote", {}, std::nullopt, true, ""};
  input.files.emplace("site.css", FileEntry{stored.hash, css.size(), "text/css; charset=utf-8"});
  testing::ReadCountingObjectStore counting(objects_);
  DeployReport report;
  report.deploy_id = "d-remote";
  auto done = finalizeVersion(context(&counting), std::move(input), report);
  ASSERT_TRUE(done) << done.error().describe();
  EXPECT_EQ(report.precompressed.files, 1U);
  EXPECT_EQ(report.precompressed.read_back, 1U);
  EXPECT_EQ(counting.blobReads(), 1U);
  EXPECT_EQ(liveVersion(), report.version);
  auto entry = objects_->readManifest("docs", report.version).value().files.at("site.css");
  EXPECT_TRUE(entry.br.present());
  EXPECT_TRUE(entry.gzip.present());
}

TEST_F(DeployTest, GcKeepsTheFormsOfKeptVersionsAndRemovesTheRest) {
  std::vector<Manifest> manifests;
  for (int i = 0; i < 3; ++i) {
    writeSite(dir_ / "site", "v" + std::to_string(i));
    writeStylesheet(dir_ / "site", std::to_string(100 + i));
    auto opts = options(dir_ / "site");
    opts.preview_seconds = 0;  // no preview link keeps a version here
    auto version = deploy(context(), opts).value().version;
    manifests.push_back(objects_->readManifest("docs", version).value());
    ASSERT_TRUE(manifests.back().files.at("assets/site.css").gzip.present());
  }
  // Live is [2], previous [1]: gc with keep 0 removes [0] only.
  auto report = collectGarbage(*objects_, *pointers_, GcOptions{0, false, 0}).value();
  ASSERT_EQ(report.removed_versions.size(), 1U);
  for (int i = 1; i < 3; ++i) {
    for (const auto& hash : blobsOf(manifests[i])) EXPECT_TRUE(objects_->readBlob(hash)) << i;
  }
  const auto& gone = manifests[0].files.at("assets/site.css");
  EXPECT_EQ(objects_->readBlob(gone.br.hash).error().code, Errc::not_found);
  EXPECT_EQ(objects_->readBlob(gone.gzip.hash).error().code, Errc::not_found);
  auto left = objects_->listBlobs().value();
  auto expected = blobsOf(manifests[1]);
  expected.merge(blobsOf(manifests[2]));
  EXPECT_EQ(std::set<std::string>(left.begin(), left.end()), expected);
}

}  // namespace
}  // namespace cutover
