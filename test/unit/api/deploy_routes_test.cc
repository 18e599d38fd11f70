// The incremental remote deploy protocol, spoken by hand: file list → missing blobs → finalize.
#include <algorithm>
#include <chrono>
#include <thread>

#include "api_fixture.h"
#include "cutover/common/hash.h"
#include "cutover/pipeline/activate.h"
#include "runs/history.h"

namespace cutover {
namespace {

struct File {
  std::string path, bytes;
};

nlohmann::json fileList(const std::vector<File>& files) {
  nlohmann::json list = nlohmann::json::object();
  for (const auto& f : files)
    list[f.path] = {{"hash", sha256Hex(f.bytes)}, {"size", f.bytes.size()}};
  return {{"files", list}};
}

class RemoteDeployTest : public ApiTest {
 protected:
  nlohmann::json begin(const std::vector<File>& files, int expect = 201) {
    auto reply = call("POST", "/api/sites/docs/deploys", docs_token_, fileList(files).dump());
    EXPECT_EQ(reply.status, expect) << reply.body;
    return json(reply);
  }
  testing::HttpResponse putBlob(const std::string& id, const std::string& bytes,
                                const std::string& hash = {}) {
    return call("PUT", "/api/deploys/" + id + "/blobs/" + (hash.empty() ? sha256Hex(bytes) : hash),
                docs_token_, bytes, {"Content-Type: application/octet-stream"});
  }
  testing::HttpResponse finalize(const std::string& id) {
    return call("POST", "/api/deploys/" + id + "/finalize", docs_token_);
  }
  std::optional<DeployRecord> record(const std::string& id) {
    auto found = history_->find(id);
    return found ? *found : std::nullopt;
  }
  // Deploys `files` to `site` through the API (uploading what is missing); the finalize answer.
  nlohmann::json deployRemote(const std::string& site, const std::string& token,
                              const std::vector<File>& files, bool activate) {
    auto list = fileList(files);
    list["activate"] = activate;
    auto started = call("POST", "/api/sites/" + site + "/deploys", token, list.dump());
    EXPECT_EQ(started.status, 201) << started.body;
    auto j = nlohmann::json::parse(started.body, nullptr, false);
    std::string id = j.value("deploy", "");
    for (const auto& f : files) {
      if (std::find(j["missing"].begin(), j["missing"].end(), sha256Hex(f.bytes)) ==
          j["missing"].end()) {
        continue;
      }
      call("PUT", "/api/deploys/" + id + "/blobs/" + sha256Hex(f.bytes), token, f.bytes);
    }
    auto done = call("POST", "/api/deploys/" + id + "/finalize", token);
    EXPECT_EQ(done.status, 200) << done.body;
    return nlohmann::json::parse(done.body, nullptr, false);
  }
  bool stored(const std::string& bytes) {
    std::vector<std::string> hashes{sha256Hex(bytes)};
    auto missing = objects_->missing(hashes);
    return missing && missing->empty();
  }
};

TEST_F(RemoteDeployTest, UploadsOnlyWhatIsMissingThenGoesLive) {
  std::vector<File> files{{"index.html", "<h1>one</h1>"},
                          {"about/index.html", "about"},
                          {"copy.html", "about"},  // same content: one blob
                          {"app.js", "console.log(1)"}};
  auto started = begin(files);
  std::string id = started["deploy"];
  EXPECT_EQ(started["missing"].size(), 3U);
  EXPECT_EQ(started["blobs"], 3);
  EXPECT_EQ(record(id)->status, "running");
  EXPECT_EQ(record(id)->trigger, "remote");
  for (const auto& bytes : {"<h1>one</h1>", "about", "console.log(1)"}) {
    auto put = putBlob(id, bytes);
    EXPECT_EQ(put.status, 201) << put.body;
  }
  auto done = finalize(id);
  ASSERT_EQ(done.status, 200) << done.body;
  auto j = json(done);
  std::string v1 = j["version"];
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(j["uploaded"], 3);
  EXPECT_EQ(j["files"], 4);
  EXPECT_EQ(j["live_url"], "http://docs.localhost:9999/");
  EXPECT_EQ(record(id)->status, "succeeded");
  auto manifest = objects_->readManifest("docs", v1);
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->files.at("app.js").media_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(manifest->files.at("copy.html").hash, sha256Hex("about"));

  // One file changed: exactly one blob is missing.
  files[0].bytes = "<h1>two</h1>";
  auto second = begin(files);
  ASSERT_EQ(second["missing"].size(), 1U);
  EXPECT_EQ(second["missing"][0], sha256Hex("<h1>two</h1>"));
  std::string id2 = second["deploy"];
  EXPECT_EQ(putBlob(id2, "<h1>two</h1>").status, 201);
  auto done2 = finalize(id2);
  ASSERT_EQ(done2.status, 200) << done2.body;
  EXPECT_EQ(json(done2)["uploaded"], 1);
  EXPECT_EQ(json(done2)["previous"], v1);
  EXPECT_EQ(live(), json(done2)["version"]);

  // A finalized deploy takes no more blobs and cannot be finalized twice.
  EXPECT_EQ(putBlob(id2, "<h1>two</h1>").status, 409);
  EXPECT_EQ(finalize(id2).status, 409);
}

TEST_F(RemoteDeployTest, BlobWhoseBytesDoNotMatchItsHashIsRefusedAndNotStored) {
  auto started = begin({{"index.html", "right"}});
  std::string id = started["deploy"];
  auto wrong = putBlob(id, "wrong", sha256Hex("right"));
  EXPECT_EQ(wrong.status, 400) << wrong.body;
  EXPECT_NE(json(wrong)["error"]["message"].get<std::string>().find("do not match"),
            std::string::npos);
  EXPECT_FALSE(stored("wrong"));
  EXPECT_FALSE(stored("right"));

  // Finalizing without the blob fails, names what is missing, and leaves the deploy open.
  auto early = finalize(id);
  EXPECT_EQ(early.status, 400);
  EXPECT_EQ(json(early)["missing"][0], sha256Hex("right"));
  EXPECT_EQ(live(), "");
  EXPECT_EQ(putBlob(id, "right").status, 201);
  EXPECT_EQ(finalize(id).status, 200);

  // A hash that is not a file of the deploy, and bytes of the wrong length.
  auto other = begin({{"a.txt", "aaa"}});
  std::string id2 = other["deploy"];
  EXPECT_EQ(putBlob(id2, "zzz").status, 400);
  EXPECT_EQ(putBlob(id2, "aaaa", sha256Hex("aaa")).status, 400);
  EXPECT_FALSE(stored("zzz"));
}

TEST_F(RemoteDeployTest, BlobUploadCutOffMidBodyStoresNothingAndTheDeployDoesNotSucceed) {
  std::string v1 = deployLocal("v1");
  std::string bytes(200'000, 'q');
  auto started = begin({{"big.bin", bytes}});
  std::string id = started["deploy"];
  std::string head = "PUT /api/deploys/" + id + "/blobs/" + sha256Hex(bytes) +
                     " HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + docs_token_ +
                     "\r\nContent-Length: " + std::to_string(bytes.size()) + "\r\n\r\n";
  sendAndHangUp(head, bytes.substr(0, 50'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(stored(bytes));
  EXPECT_EQ(finalize(id).status, 400);
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(record(id)->status, "running");  // waiting for the blob still, never "succeeded"
}

TEST_F(RemoteDeployTest, BadFileListsAreRefused) {
  auto traversal = call("POST", "/api/sites/docs/deploys", docs_token_,
                        fileList({{"../etc/passwd", "x"}}).dump());
  EXPECT_EQ(traversal.status, 400);
  EXPECT_NE(traversal.body.find(".."), std::string::npos) << traversal.body;
  auto empty = call("POST", "/api/sites/docs/deploys", docs_token_, R"({"files": {}})");
  EXPECT_EQ(empty.status, 400);
  auto bad_hash = call("POST", "/api/sites/docs/deploys", docs_token_,
                       R"({"files": {"a": {"hash": "xyz", "size": 1}}})");
  EXPECT_EQ(bad_hash.status, 400);
  auto malformed = call("POST", "/api/sites/docs/deploys", docs_token_, "{files");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.body.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(deployCount(), 0U);
}

TEST_F(RemoteDeployTest, PointerMovedSinceTheStartIsAConflict) {
  std::string v1 = deployLocal("v1");
  std::string v2 = deployLocal("v2", /*activate=*/false);
  auto started = begin({{"index.html", "new"}});
  std::string id = started["deploy"];
  EXPECT_EQ(putBlob(id, "new").status, 201);
  ASSERT_TRUE(activateVersion(*objects_, *pointers_, "docs", v2));
  auto done = finalize(id);
  EXPECT_EQ(done.status, 409) << done.body;
  auto message = json(done)["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("was changed by another deploy or activation while this one ran"),
            std::string::npos)
      << message;
  EXPECT_EQ(live(), v2);
  EXPECT_EQ(record(id)->status, "failed");
  EXPECT_EQ(versionCount(), 3U);  // the version is stored, as the message says
}

// A lock set while a remote deploy uploads is the lock's answer, not a conflict: the version
// is stored, the answer says why it is not live.
TEST_F(RemoteDeployTest, ALockSetWhileUploadingStoresTheVersionWithoutFlipping) {
  std::string v1 = deployLocal("v1");
  auto started = begin({{"index.html", "new"}});
  std::string id = started["deploy"];
  EXPECT_EQ(putBlob(id, "new").status, 201);
  ASSERT_TRUE(setDeployLock(*pointers_, "docs", DeployLock{"release freeze", "user ada", "now"}));
  auto done = finalize(id);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(json(done)["activated"], false);
  EXPECT_NE(json(done)["locked"].get<std::string>().find("release freeze"), std::string::npos);
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(record(id)->status, "succeeded");
  EXPECT_TRUE(record(id)->locked);
}

TEST_F(RemoteDeployTest, UnfinishedDeploysAreRecordedFailedAfterTheTimeout) {
  ApiOptions options;
  options.remote_deploy_timeout = std::chrono::milliseconds(200);
  restart(options);
  auto started = begin({{"index.html", "never"}});
  std::string id = started["deploy"];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (record(id)->status == "running" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(record(id)->status, "failed");
  EXPECT_NE(record(id)->error.find("abandoned"), std::string::npos) << record(id)->error;
  EXPECT_EQ(finalize(id).status, 409);

  // And those open when the server stops are recorded failed too.
  auto open = begin({{"index.html", "open"}});
  server_->stop();
  EXPECT_EQ(record(open["deploy"])->status, "failed");
}

TEST_F(RemoteDeployTest, MissingIsAnsweredFromThisSitesVersionsOnly) {
  // Another site holds an unpublished file; this site's token must not learn it is stored.
  deployRemote("other", other_token_, {{"draft.html", "other's unpublished draft"}},
               /*activate=*/false);
  ASSERT_TRUE(stored("other's unpublished draft"));
  auto mine = begin({{"index.html", "mine"}, {"guess.html", "other's unpublished draft"}});
  std::string id = mine["deploy"];
  EXPECT_EQ(mine["missing"].size(), 2U) << mine.dump();

  // Finalizing without sending it is refused: the site neither had it nor uploaded it.
  EXPECT_EQ(putBlob(id, "mine").status, 201);
  auto refused = finalize(id);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(json(refused)["missing"][0], sha256Hex("other's unpublished draft"));
  EXPECT_EQ(live(), "");
  // Sending the bytes proves them; the store keeps its one copy.
  auto again = putBlob(id, "other's unpublished draft");
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(json(again)["stored"], false);
  ASSERT_EQ(finalize(id).status, 200);

  // What this site's own versions hold is not asked for again.
  auto next = begin(
      {{"index.html", "mine"}, {"guess.html", "other's unpublished draft"}, {"new.html", "new"}});
  EXPECT_EQ(next["missing"], nlohmann::json::array({sha256Hex("new")})) << next.dump();
}

TEST_F(RemoteDeployTest, ASizeThatIsNotTheBlobsIsRefused) {
  deployRemote("docs", docs_token_, {{"index.html", "ten bytes!"}}, true);
  std::string v1 = live();
  // The same hash with a false size: refused at the start, nothing recorded live.
  nlohmann::json list{
      {"files", {{"index.html", {{"hash", sha256Hex("ten bytes!")}, {"size", 100000}}}}}};
  auto lying = call("POST", "/api/sites/docs/deploys", docs_token_, list.dump());
  EXPECT_EQ(lying.status, 400) << lying.body;
  auto message = json(lying)["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("10 bytes"), std::string::npos) << message;
  EXPECT_EQ(live(), v1);

  // Another site's blob named with a false size cannot be finalized either.
  deployRemote("other", other_token_, {{"public.txt", "other's public file"}}, true);
  nlohmann::json foreign{
      {"files", {{"a.txt", {{"hash", sha256Hex("other's public file")}, {"size", 4096}}}}}};
  auto started = call("POST", "/api/sites/docs/deploys", docs_token_, foreign.dump());
  ASSERT_EQ(started.status, 201) << started.body;
  std::string id = json(started)["deploy"];
  EXPECT_EQ(json(started)["missing"].size(), 1U);
  EXPECT_EQ(putBlob(id, "other's public file", sha256Hex("other's public file")).status, 400);
  EXPECT_EQ(finalize(id).status, 400);
  EXPECT_EQ(live(), v1);
}

TEST_F(RemoteDeployTest, ALongNonAsciiSourceIsClippedOnACharacterBoundary) {
  std::string name = "a";
  while (name.size() < 300) name += "é";  // two bytes each: byte 200 is the middle of one
  auto list = fileList({{"index.html", "accented"}});
  list["source"] = name;
  auto started = call("POST", "/api/sites/docs/deploys", docs_token_, list.dump());
  ASSERT_EQ(started.status, 201) << started.body;
  std::string id = json(started)["deploy"];
  EXPECT_EQ(putBlob(id, "accented").status, 201);
  auto done = finalize(id);
  ASSERT_EQ(done.status, 200) << done.body;
  auto source = record(id)->source;
  EXPECT_LE(source.size(), 200U);
  EXPECT_GT(source.size(), 190U);
  EXPECT_EQ(source, name.substr(0, source.size()));
  EXPECT_TRUE(nlohmann::json::parse(nlohmann::json(source).dump(), nullptr, false).is_string());
}

TEST_F(RemoteDeployTest, PendingDeploysAreCappedPerSiteAndInAll) {
  ApiOptions options;
  options.max_pending_deploys_per_site = 2;
  options.max_pending_deploys = 3;
  restart(options);
  std::string first = begin({{"a.html", "a"}})["deploy"];
  begin({{"b.html", "b"}});
  auto third =
      call("POST", "/api/sites/docs/deploys", docs_token_, fileList({{"c.html", "c"}}).dump());
  EXPECT_EQ(third.status, 429) << third.body;
  auto message = json(third)["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("2 remote deploys pending"), std::string::npos) << message;
  EXPECT_NE(message.find(first), std::string::npos) << message;
  EXPECT_FALSE(third.headers["retry-after"].empty());

  auto elsewhere =
      call("POST", "/api/sites/other/deploys", other_token_, fileList({{"o.html", "o"}}).dump());
  EXPECT_EQ(elsewhere.status, 201) << elsewhere.body;
  auto full =
      call("POST", "/api/sites/other/deploys", other_token_, fileList({{"p.html", "p"}}).dump());
  EXPECT_EQ(full.status, 503) << full.body;
  EXPECT_NE(full.body.find("3 remote deploys pending"), std::string::npos) << full.body;

  // Finishing one makes room.
  EXPECT_EQ(putBlob(first, "a").status, 201);
  EXPECT_EQ(finalize(first).status, 200);
  EXPECT_EQ(call("POST", "/api/sites/docs/deploys", docs_token_, fileList({{"c.html", "c"}}).dump())
                .status,
            201);
}

}  // namespace
}  // namespace cutover
