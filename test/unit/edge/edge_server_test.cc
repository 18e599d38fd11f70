// The edge over real sockets: an EdgeServer on port 0, in-memory stores, raw HTTP on the wire.
#include "cutover/edge/edge_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "edge_fixture.h"
#include "http_client.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::eventually;
using testing::HttpClient;
using testing::putVersion;
using testing::RawResponse;
using testing::setHosts;
using testing::setLive;

constexpr std::size_t kCacheMaxFile = 64 * 1024;

// Bytes that differ everywhere between seeds, made fast (xorshift, 8 bytes at a time).
std::string randomBytes(std::size_t n, std::uint64_t seed) {
  std::string out(n, '\0');
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, 8);
  }
  return out;
}

class EdgeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1_ = putVersion(*objects_, "docs", "v1",
                     {{"index.html", "<h1>version one</h1>"},
                      {"about.html", "about one"},
                      {"guide/index.html", "guide one"},
                      {"404.html", "not here (one)"},
                      {"big.bin", bigV1_}});
    v2_ = putVersion(*objects_, "docs", "v2",
                     {{"index.html", "<h1>version two</h1>"}, {"big.bin", bigV2_}});
    setLive(*pointers_, "docs", "v1");
    setHosts(*pointers_, "docs", {"docs.example.com"});
    testing::openPreview(*pointers_, "docs", "v2");  // as its deploy would
    startServer(EdgeOptions{});
  }

  void startServer(EdgeOptions options) {
    options.listen = "127.0.0.1:0";
    if (options.threads == 0) options.threads = 2;
    options.memory_cache_max_file = kCacheMaxFile;
    server_ = makeEdgeServer(objects_, pointers_, options);
    auto started = server_->start();
    ASSERT_TRUE(started) << started.error().describe();
    ASSERT_NE(server_->port(), 0);
  }

  std::uint16_t port() const { return server_->port(); }

  int statusOf(std::string_view raw) {
    HttpClient client(port());
    client.send(raw);
    return client.read().status;
  }

  // Larger than the cache's limit: streamed.
  std::string bigV1_ = randomBytes(300 << 10, 1);
  std::string bigV2_ = randomBytes(300 << 10, 2);
  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  Manifest v1_;
  Manifest v2_;
  std::unique_ptr<EdgeServer> server_;
};

TEST_F(EdgeServerTest, ServesTheLiveVersionWithItsHeaders) {
  HttpClient client(port());
  RawResponse r = client.get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>version one</h1>");
  EXPECT_EQ(r.header("content-length"), "20");
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.header("etag"), "\"" + v1_.files["index.html"].hash + "\"");
  EXPECT_EQ(r.header("x-cutover-version"), "v1");
  EXPECT_EQ(r.header("cache-control"), "public, max-age=0, must-revalidate");
  EXPECT_TRUE(r.has("date"));
}

TEST_F(EdgeServerTest, RevalidationGets304WithoutABody) {
  HttpClient client(port());
  std::string etag = client.get("/about").header("etag");
  RawResponse r = client.get("/about", "docs.localhost", "If-None-Match: " + etag + "\r\n");
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.header("etag"), etag);
  EXPECT_EQ(r.header("x-cutover-version"), "v1");
  r = client.get("/about", "docs.localhost", "If-None-Match: \"x\", W/" + etag + "\r\n");
  EXPECT_EQ(r.status, 304);
  r = client.get("/about", "docs.localhost", "If-None-Match: *\r\n");
  EXPECT_EQ(r.status, 304);
  // The connection is still in step: the next answer is a whole 200.
  r = client.get("/about", "docs.localhost", "If-None-Match: \"stale\"\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "about one");
}

TEST_F(EdgeServerTest, HeadSendsTheHeadOnly) {
  HttpClient client(port());
  client.sendGet("/big.bin", "docs.localhost", "", "HEAD");
  RawResponse r = client.read(/*no_body=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), std::to_string(bigV1_.size()));
  EXPECT_EQ(r.header("x-cutover-version"), "v1");
  // Had a body followed, this second response would be garbage.
  r = client.get("/about");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "about one");
}

TEST_F(EdgeServerTest, OtherMethodsGet405) {
  HttpClient client(port());
  client.sendGet("/", "docs.localhost", "", "DELETE");
  RawResponse r = client.read();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET, HEAD");
  HttpClient post(port());
  post.send("POST / HTTP/1.1\r\nHost: docs.localhost\r\nContent-Length: 5\r\n\r\nhello");
  r = post.read();
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(post.closedByServer());
}

TEST_F(EdgeServerTest, AnUnknownHostGets404WithoutAVersion) {
  HttpClient client(port());
  RawResponse r = client.get("/", "nope.example.com");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no site is configured for host nope.example.com\n");
  EXPECT_FALSE(r.has("x-cutover-version"));
}

TEST_F(EdgeServerTest, TraversalOnTheWireGets400) {
  for (const char* target : {"/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/.%2e/x",
                             "/a/%2e%2e/%2e%2e/x", "/%2fetc%2fpasswd", "/index.html%00", "/\\..\\x",
                             "/%5c..%5cx", "/%zz", "/%2", "http://docs.localhost/../x", "../x"}) {
    std::string raw = std::string("GET ") + target + " HTTP/1.1\r\nHost: docs.localhost\r\n\r\n";
    EXPECT_EQ(statusOf(raw), 400) << target;
  }
}

TEST_F(EdgeServerTest, CleanUrlsFolderRedirectsAndThe404Page) {
  HttpClient client(port());
  EXPECT_EQ(client.get("/about").body, "about one");
  RawResponse r = client.get("/guide?x=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("location"), "/guide/?x=1");
  EXPECT_EQ(client.get("/guide/").body, "guide one");
  r = client.get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "not here (one)");
  EXPECT_EQ(r.header("x-cutover-version"), "v1");
}

TEST_F(EdgeServerTest, KeepsConnectionsAliveAndPipelines) {
  HttpClient client(port());
  EXPECT_EQ(client.get("/").status, 200);
  EXPECT_EQ(client.get("/about").status, 200);
  client.send(
      "GET / HTTP/1.1\r\nHost: docs.localhost\r\n\r\n"
      "GET /about HTTP/1.1\r\nHost: docs.localhost\r\n\r\n");
  EXPECT_EQ(client.read().body, "<h1>version one</h1>");
  EXPECT_EQ(client.read().body, "about one");

  HttpClient old(port());
  old.send("GET / HTTP/1.0\r\nHost: docs.localhost\r\nConnection: keep-alive\r\n\r\n");
  RawResponse r = old.read();
  EXPECT_EQ(r.header("connection"), "keep-alive");
  old.send("GET /about HTTP/1.0\r\nHost: docs.localhost\r\n\r\n");
  EXPECT_EQ(old.read().body, "about one");
  EXPECT_TRUE(old.closedByServer());  // HTTP/1.0 without keep-alive closes
}

TEST_F(EdgeServerTest, ConnectionCloseIsHonoured) {
  HttpClient client(port());
  RawResponse r = client.get("/", "docs.localhost", "Connection: close\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_TRUE(client.closedByServer());
}

TEST_F(EdgeServerTest, AnswersTheNewVersionSoonAfterTheFlip) {
  HttpClient client(port());
  EXPECT_EQ(client.get("/").header("x-cutover-version"), "v1");
  auto flipped = std::chrono::steady_clock::now();
  setLive(*pointers_, "docs", "v2");
  RawResponse r;
  ASSERT_TRUE(eventually([&] {
    r = client.get("/");
    return r.header("x-cutover-version") == "v2";
  }));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - flipped);
  EXPECT_LT(took.count(), 100) << "the flip took " << took.count() << " ms to reach the edge";
  EXPECT_EQ(r.body, "<h1>version two</h1>");
  EXPECT_EQ(r.header("etag"), "\"" + v2_.files["index.html"].hash + "\"");
  // Files the new version lacks are gone with it: v2 has no about.html and no 404.html.
  EXPECT_EQ(client.get("/about").status, 404);
}

TEST_F(EdgeServerTest, AResponseInFlightFinishesOnItsVersion) {
  // Larger than the socket buffers can hold, so a slow reader keeps the response in flight.
  std::string hugeV1 = randomBytes(6 << 20, 3);
  std::string hugeV2 = randomBytes(6 << 20, 4);
  putVersion(*objects_, "media", "m1", {{"huge.bin", hugeV1}, {"index.html", "m1"}});
  putVersion(*objects_, "media", "m2", {{"huge.bin", hugeV2}, {"index.html", "m2"}});
  setLive(*pointers_, "media", "m1");
  HttpClient other(port());
  ASSERT_TRUE(eventually([&] { return other.get("/", "media.localhost").status == 200; }));

  HttpClient slow(port(), 16 * 1024);  // a small window: the server is stuck mid-body
  slow.sendGet("/huge.bin", "media.localhost");
  RawResponse r = slow.read(false, 1024);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-cutover-version"), "m1");

  setLive(*pointers_, "media", "m2");
  ASSERT_TRUE(eventually(
      [&] { return other.get("/", "media.localhost").header("x-cutover-version") == "m2"; }));
  other.sendGet("/huge.bin", "media.localhost");
  RawResponse fresh = other.read();
  EXPECT_EQ(fresh.header("x-cutover-version"), "m2");
  EXPECT_TRUE(fresh.body == hugeV2);

  std::string whole = r.body + slow.readRest();
  EXPECT_EQ(whole.size(), hugeV1.size());
  EXPECT_TRUE(whole == hugeV1) << "the in-flight response mixed versions";
}

TEST_F(EdgeServerTest, LargeFilesStreamWhole) {
  HttpClient client(port());
  for (int i = 0; i < 2; ++i) {  // twice on one connection: the stream ends where it should
    RawResponse r = client.get("/big.bin");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-length"), std::to_string(bigV1_.size()));
    EXPECT_EQ(r.header("etag"), "\"" + v1_.files["big.bin"].hash + "\"");
    EXPECT_TRUE(r.body == bigV1_);
  }
}

TEST_F(EdgeServerTest, SiteHostsFromSettingsWork) {
  HttpClient client(port());
  EXPECT_EQ(client.get("/", "Docs.Example.com:443").body, "<h1>version one</h1>");
  setHosts(*pointers_, "docs", {"docs.example.com", "www.example.org"});
  ASSERT_TRUE(eventually([&] { return client.get("/", "www.example.org").status == 200; }));
}

TEST_F(EdgeServerTest, OversizedHeadsGet431) {
  std::string raw =
      "GET / HTTP/1.1\r\nHost: docs.localhost\r\nX-Big: " + std::string(20 * 1024, 'x') +
      "\r\n\r\n";
  EXPECT_EQ(statusOf(raw), 431);
  EXPECT_EQ(statusOf("NONSENSE\r\n\r\n"), 400);
}

TEST_F(EdgeServerTest, TheVersionHeaderCanBeTurnedOff) {
  EdgeOptions options;
  options.version_header = false;
  startServer(options);
  HttpClient client(port());
  RawResponse r = client.get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.has("x-cutover-version"));
}

TEST_F(EdgeServerTest, IdleConnectionsTimeOut) {
  EdgeOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  options.header_timeout = std::chrono::milliseconds(200);
  startServer(options);
  HttpClient client(port());
  EXPECT_EQ(client.get("/").status, 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.closedByServer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  HttpClient silent(port());
  silent.send("GET / HTTP/1.1\r\n");  // a head that never ends
  EXPECT_TRUE(silent.closedByServer());
}

TEST_F(EdgeServerTest, StopsPromptlyWithIdleConnectionsOpen) {
  HttpClient client(port());
  EXPECT_EQ(client.get("/").status, 200);
  auto start = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_TRUE(client.closedByServer());
  EXPECT_THROW(HttpClient{port()}, std::runtime_error);
}

TEST_F(EdgeServerTest, RangesOfLargeFilesComeFromTheRightOffsetOverTheWire) {
  HttpClient client(port());
  for (bool sendfile : {true, false}) {
    if (!sendfile) {
      server_.reset();
      EdgeOptions options;
      options.sendfile = false;
      startServer(options);
    }
    HttpClient c(port());
    RawResponse r = c.get("/big.bin", "docs.localhost", "Range: bytes=1000-200999\r\n");
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.header("content-range"), "bytes 1000-200999/" + std::to_string(bigV1_.size()));
    EXPECT_TRUE(r.body == bigV1_.substr(1000, 200000)) << "sendfile " << sendfile;
    // The connection is still in step: the next response is whole.
    r = c.get("/big.bin");
    EXPECT_TRUE(r.body == bigV1_);
    EXPECT_EQ(r.header("accept-ranges"), "bytes");
  }
}

TEST_F(EdgeServerTest, TheAccessLogHasOneCombinedLinePerRequest) {
  server_.reset();
  ::cutover::testing::TempDir dir;
  EdgeOptions options;
  options.access_log = (dir / "access.log").string();
  options.access_log_format = "combined";
  startServer(options);
  {
    HttpClient client(port());
    client.get("/about", "docs.localhost", "User-Agent: tester/1.0\r\nReferer: http://x/\"y\r\n");
    client.get("/nope");
  }
  server_->stop();  // flushes what the threads buffered
  std::string log = ::cutover::testing::readFile(dir / "access.log");
  EXPECT_NE(log.find("127.0.0.1 - - ["), std::string::npos) << log;
  EXPECT_NE(log.find("] \"GET /about HTTP/1.1\" 200 9 \"http://x/\\x22y\" \"tester/1.0\"\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("\"GET /nope HTTP/1.1\" 404 "), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2);
}

TEST_F(EdgeServerTest, AtTheLimitTheOldestIdleConnectionMakesRoomForANewClient) {
  // One client holding every connection idle must not lock everyone else out.
  for (unsigned threads : {1U, 2U}) {
    EdgeOptions options;
    options.threads = threads;
    options.max_connections = 6;
    startServer(options);
    std::vector<std::unique_ptr<HttpClient>> idle;
    for (int i = 0; i < 6; ++i) {
      idle.push_back(std::make_unique<HttpClient>(port()));
      ASSERT_EQ(idle.back()->get("/").status, 200);
    }
    HttpClient newcomer(port(), 0, "127.0.0.2");
    EXPECT_EQ(newcomer.get("/about").status, 200) << threads << " threads";
    auto closed = [&] {
      return std::count_if(idle.begin(), idle.end(), [](auto& c) { return c->closedNow(); });
    };
    ASSERT_TRUE(eventually([&] { return closed() > 0; })) << threads << " threads";
    EXPECT_EQ(closed(), 1) << threads << " threads";
    // One thread sees the order in which connections went idle exactly: the first one goes.
    if (threads == 1) {
      EXPECT_TRUE(idle.front()->closedNow());
    }
    for (auto& c : idle) {
      if (!c->closedNow()) {
        EXPECT_EQ(c->get("/about").status, 200) << threads << " threads";
      }
    }
  }
}

TEST_F(EdgeServerTest, AtTheLimitWithNothingIdleNewConnectionsGet503) {
  EdgeOptions options;
  options.max_connections = 1;
  startServer(options);
  HttpClient first(port());
  // A request, and the start of the next one in the same packet: once the first is answered,
  // the connection is in the middle of a request, never idle.
  first.send("GET / HTTP/1.1\r\nHost: docs.localhost\r\n\r\nGET /about HTTP/1.1\r\n");
  ASSERT_EQ(first.read().status, 200);
  HttpClient second(port());
  EXPECT_EQ(second.read().status, 503);
  first.send("Host: docs.localhost\r\n\r\n");
  EXPECT_EQ(first.read().body, "about one");  // the first is served all the same
}

TEST_F(EdgeServerTest, OneAddressCannotTakeMoreThanItsShare) {
  EdgeOptions options;
  options.max_connections_per_client = 3;
  startServer(options);
  std::vector<std::unique_ptr<HttpClient>> mine;
  for (int i = 0; i < 3; ++i) {
    mine.push_back(std::make_unique<HttpClient>(port(), 0, "127.0.0.2"));
    ASSERT_EQ(mine.back()->get("/").status, 200);
  }
  HttpClient fourth(port(), 0, "127.0.0.2");
  EXPECT_EQ(fourth.read().status, 503);
  HttpClient someone_else(port(), 0, "127.0.0.3");
  EXPECT_EQ(someone_else.get("/").status, 200);
  for (auto& c : mine) EXPECT_EQ(c->get("/about").status, 200);
  // A connection that ends gives its place back.
  mine.pop_back();
  EXPECT_TRUE(eventually([&] {
    HttpClient again(port(), 0, "127.0.0.2");
    again.sendGet("/");
    return again.read().status == 200;
  }));
}

TEST_F(EdgeServerTest, TransferEncodingsOtherThanChunkedGet400AndClose) {
  // RFC 9112 §6.3: a request whose framing is not chunked-last cannot be delimited. Answering it
  // and reading what follows as the next request would let a client smuggle one past a proxy.
  const std::string next = "GET /about HTTP/1.1\r\nHost: docs.localhost\r\n\r\n";
  for (std::string fields :
       {"Transfer-Encoding: identity\r\n", "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: xchunked\r\n", "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n"}) {
    HttpClient client(port());
    client.send("GET / HTTP/1.1\r\nHost: docs.localhost\r\n" + fields + "\r\n" + next);
    RawResponse r = client.read();
    EXPECT_EQ(r.status, 400) << fields;
    EXPECT_EQ(r.header("connection"), "close") << fields;
    EXPECT_TRUE(client.closedByServer()) << fields;
  }
  HttpClient chunked(port());
  chunked.send("GET / HTTP/1.1\r\nHost: docs.localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(chunked.read().status, 413);  // well framed, but a static site takes no body
  EXPECT_TRUE(chunked.closedByServer());
}

TEST_F(EdgeServerTest, ASecondServerOnTheSamePortIsRefused) {
  EdgeOptions options;
  options.listen = "127.0.0.1:" + std::to_string(port());
  options.threads = 2;
  auto second = makeEdgeServer(objects_, pointers_, options);
  auto started = second->start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("cannot listen"), std::string::npos);
  EXPECT_EQ(HttpClient(port()).get("/").status, 200);
}

}  // namespace
// Several sites on one port: each line says which Host was asked, which site and which version
// answered ("-" where none did).
TEST_F(EdgeServerTest, TheDefaultAccessLogNamesHostSiteAndVersion) {
  server_.reset();
  ::cutover::testing::TempDir dir;
  EdgeOptions options;
  options.access_log = (dir / "access.log").string();
  startServer(options);
  {
    HttpClient client(port());
    client.get("/about", "docs.localhost");
    client.get("/", "docs.example.com");
    client.get("/", "v2--docs.localhost");
    client.get("/", "nothing.example");
  }
  server_->stop();
  std::string log = ::cutover::testing::readFile(dir / "access.log");
  EXPECT_NE(log.find("\"GET /about HTTP/1.1\" 200 9 \"-\" \"-\" \"docs.localhost\" docs v1\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(" 200 20 \"-\" \"-\" \"docs.example.com\" docs v1\n"), std::string::npos)
      << log;
  EXPECT_NE(log.find(" 200 20 \"-\" \"-\" \"v2--docs.localhost\" docs v2\n"), std::string::npos)
      << log;
  EXPECT_NE(log.find(" 404 "), std::string::npos) << log;
  EXPECT_NE(log.find("\"nothing.example\" - -\n"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 4);
}

}  // namespace cutover
