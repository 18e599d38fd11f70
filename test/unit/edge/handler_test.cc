#include "edge/handler.h"

#include <gtest/gtest.h>

#include "cutover/common/hash.h"
#include "edge_fixture.h"

namespace cutover::edge {
namespace {

using testing::putVersion;
using testing::setHosts;
using testing::setLive;

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1_ = putVersion(*objects_, "docs", "v1",
                     {{"index.html", "<h1>one</h1>"},
                      {"about.html", "about"},
                      {"guide/index.html", "guide"},
                      {"big.bin", std::string(100, 'b')},
                      {"404.html", "custom not found"}});
    setLive(*pointers_, "docs", "v1");
    setHosts(*pointers_, "blog", {"blog.example.com"});
    ASSERT_TRUE(state_.start());
  }

  Reply& get(std::string_view target, std::string_view host = "docs.localhost",
             Method method = Method::get) {
    RequestHead head;
    head.method = method;
    head.target = target;
    head.host = host;
    head.has_host = true;
    handler_.handle(head, reply_, scratch_);
    return reply_;
  }

  static std::string body(const Reply& r) { return std::string(r.body); }

  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  RoutingState state_{objects_, pointers_, "localhost"};
  FileCache cache_{1 << 20};
  HandlerOptions options_{true, 64};  // files over 64 bytes are streamed
  Handler handler_{state_, *objects_, cache_, options_};
  Manifest v1_;
  Reply reply_;
  RequestScratch scratch_;
};

TEST_F(HandlerTest, ServesAFileWithItsHeaders) {
  Reply& r = get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r), "<h1>one</h1>");
  EXPECT_EQ(r.content_length, 12U);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.etag, "\"" + v1_.files["index.html"].hash + "\"");
  EXPECT_EQ(r.version, "v1");
  EXPECT_EQ(r.cache_control, "public, max-age=0, must-revalidate");
  EXPECT_FALSE(r.omit_body);
  EXPECT_EQ(cache_.bytes(), 12U);  // small files come from memory next time
}

TEST_F(HandlerTest, AnswersAMatchingIfNoneMatchWith304) {
  RequestHead head;
  head.target = "/about";
  head.host = "docs.localhost";
  head.has_host = true;
  std::string tag = "W/\"nope\", \"" + v1_.files["about.html"].hash + "\"";
  head.if_none_match = tag;
  head.has_if_none_match = true;
  handler_.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 304);
  EXPECT_TRUE(reply_.omit_body);
  EXPECT_FALSE(reply_.etag.empty());
  EXPECT_EQ(reply_.version, "v1");
  head.if_none_match = "\"other\"";
  handler_.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 200);
}

TEST_F(HandlerTest, HeadGetsTheHeadOfGet) {
  Reply& r = get("/about", "docs.localhost", Method::head);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.omit_body);
  EXPECT_EQ(r.content_length, 5U);
  EXPECT_FALSE(r.etag.empty());
  EXPECT_TRUE(get("/nope-host", "nope.localhost", Method::head).omit_body);
}

TEST_F(HandlerTest, RefusesOtherMethods) {
  Reply& r = get("/", "docs.localhost", Method::other);
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(r.allow);
}

TEST_F(HandlerTest, UnknownHostsGetAPlain404WithoutAVersion) {
  Reply& r = get("/", "Nope.Example.com:8080");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r), "no site is configured for host nope.example.com\n");
  EXPECT_TRUE(r.version.empty());
}

TEST_F(HandlerTest, ASiteWithoutALiveVersionGets404) {
  Reply& r = get("/", "blog.example.com");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r), "site blog has no live version\n");
}

TEST_F(HandlerTest, HostsAreNormalized) {
  EXPECT_EQ(get("/", "DOCS.localhost.:80").status, 200);
}

TEST_F(HandlerTest, TraversalIsRefusedWith400) {
  for (const char* target : {"/../index.html", "/%2e%2e/index.html", "/a%2f..", "/%00"}) {
    EXPECT_EQ(get(target).status, 400) << target;
  }
}

TEST_F(HandlerTest, RedirectsAFolderToItsSlash) {
  Reply& r = get("/guide?x=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.location, "/guide/?x=1");
  EXPECT_EQ(r.version, "v1");
  EXPECT_EQ(get("/guide/").status, 200);
}

TEST_F(HandlerTest, MissingFilesGetTheVersions404Page) {
  Reply& r = get("/missing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r), "custom not found");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(r.etag.empty());
  EXPECT_EQ(r.version, "v1");
}

TEST_F(HandlerTest, LargeFilesAreStreamedFromTheBlob) {
  Reply& r = get("/big.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.file.valid());
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.content_length, 100U);
  EXPECT_EQ(r.content_type, "application/octet-stream");
}

TEST_F(HandlerTest, AMissingBlobIsA500) {
  ASSERT_TRUE(objects_->deleteBlob(v1_.files["about.html"].hash));
  ASSERT_TRUE(objects_->deleteBlob(v1_.files["big.bin"].hash));
  EXPECT_EQ(get("/about").status, 500);
  EXPECT_EQ(get("/big.bin").status, 500);
}

TEST_F(HandlerTest, TheVersionHeaderCanBeTurnedOff) {
  Handler quiet(state_, *objects_, cache_, HandlerOptions{false, 64});
  RequestHead head;
  head.target = "/";
  head.host = "docs.localhost";
  head.has_host = true;
  quiet.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 200);
  EXPECT_TRUE(reply_.version.empty());
}

TEST_F(HandlerTest, Http11WithoutHostIs400) {
  RequestHead head;
  head.target = "/";
  handler_.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 400);
}

TEST(ReplyHead, ListsTheFieldsOfTheReply) {
  Reply r;
  r.status = 200;
  r.content_type = "text/plain";
  r.etag = "\"abc\"";
  r.version = "v1";
  r.content_length = 42;
  std::string head;
  appendHead(head, r, true, false);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\nDate: "));
  EXPECT_NE(head.find("\r\nContent-Length: 42\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nETag: \"abc\"\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-Cutover-Version: v1\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Connection"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
  head.clear();
  appendHead(head, r, true, true);
  EXPECT_NE(head.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  head.clear();
  r.status = 304;
  appendHead(head, r, false, false);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace cutover::edge
