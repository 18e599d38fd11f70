// The API's listener over raw sockets: framing it refuses, and clients that hold connections
// without sending requests (idle, or a head sent byte by byte) against the ones that do.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "api_fixture.h"
#include "unit/edge/edge_fixture.h"
#include "unit/edge/http_client.h"

namespace cutover {
namespace {

using testing::eventually;

using testing::HttpClient;

class ListenerTest : public ApiTest {
 protected:
  // A webhook handler that answers 202 with the site: what a push from a forge gets.
  static ApiOptions withWebhook(ApiOptions options = {}) {
    options.webhook = [](const std::string& site, const HeaderMap&, const std::string&) {
      return WebhookReply{202, "{\"site\":\"" + site + "\"}"};
    };
    return options;
  }

  // POSTs a small webhook delivery from `source` on a fresh connection; its status.
  int deliver(const char* source) {
    HttpClient client(port_, 0, source);
    client.send(
        "POST /hooks/docs HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\n\r\n{}");
    return client.read().status;
  }
};

TEST_F(ListenerTest, TransferEncodingsOtherThanChunkedGet400AndClose) {
  const std::string next = "GET /api/health HTTP/1.1\r\nHost: api\r\n\r\n";
  for (std::string fields :
       {"Transfer-Encoding: identity\r\n", "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: xchunked\r\n", "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n"}) {
    HttpClient client(port_);
    client.send("GET /api/health HTTP/1.1\r\nHost: api\r\n" + fields + "\r\n" + next);
    auto r = client.read();
    EXPECT_EQ(r.status, 400) << fields;
    EXPECT_EQ(r.header("connection"), "close") << fields;
    EXPECT_TRUE(client.closedByServer()) << fields;  // what followed was never read as a request
  }
  HttpClient plain(port_);
  EXPECT_EQ(plain.get("/api/health", "api").status, 200);
}

TEST_F(ListenerTest, SlowClientsDoNotKeepAWebhookOut) {
  restart(withWebhook());
  // 64 connections (the default limit) sending a head a few bytes at a time, the way a slow
  // client or an attacker does.
  std::vector<std::unique_ptr<HttpClient>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(std::make_unique<HttpClient>(port_, 0, "127.0.0.2"));
    slow.back()->send("POST /hooks/docs HTTP/1.1\r\n");
  }
  EXPECT_EQ(deliver("127.0.0.1"), 202);
  EXPECT_EQ(deliver("127.0.0.3"), 202);
  // Even from the slow client's own address, a whole request gets in.
  EXPECT_EQ(deliver("127.0.0.2"), 202);
  auto health = testing::httpRequest(port_, "api", "/api/health");
  EXPECT_EQ(health.status, 200) << health.error;
}

TEST_F(ListenerTest, AtTheLimitTheConnectionIdleTheLongestMakesRoom) {
  ApiOptions options;
  options.max_connections = 4;
  restart(withWebhook(options));
  std::vector<std::unique_ptr<HttpClient>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<HttpClient>(port_));
    ASSERT_EQ(idle.back()->get("/api/health", "api").status, 200);
  }
  EXPECT_EQ(deliver("127.0.0.2"), 202);
  auto closed = [&] {
    return std::count_if(idle.begin(), idle.end(), [](auto& c) { return c->closedNow(); });
  };
  ASSERT_TRUE(eventually([&] { return closed() > 0; }));
  EXPECT_EQ(closed(), 1);
  for (auto& c : idle) {
    if (!c->closedNow()) {
      EXPECT_EQ(c->get("/api/health", "api").status, 200);
    }
  }
}

TEST_F(ListenerTest, OneAddressCannotTakeMoreThanItsShare) {
  ApiOptions options;
  options.max_connections_per_client = 3;
  restart(withWebhook(options));
  // Three deliveries stalled inside their bodies: working on a request, never reclaimed. The
  // "100 Continue" says the route is reading the body.
  std::vector<std::unique_ptr<HttpClient>> stalled;
  for (int i = 0; i < 3; ++i) {
    stalled.push_back(std::make_unique<HttpClient>(port_, 0, "127.0.0.2"));
    stalled.back()->send(
        "POST /hooks/docs HTTP/1.1\r\nHost: api\r\nContent-Length: 100\r\n"
        "Expect: 100-continue\r\n\r\n");
    ASSERT_EQ(stalled.back()->read().status, 100);
    stalled.back()->send("{\"a\":");
  }
  HttpClient fourth(port_, 0, "127.0.0.2");
  EXPECT_EQ(fourth.read().status, 503);
  EXPECT_EQ(deliver("127.0.0.3"), 202);  // another address is not affected
  // A connection that ends gives its place back.
  stalled.pop_back();
  EXPECT_TRUE(eventually([&] { return deliver("127.0.0.2") == 202; }));
}

}  // namespace
}  // namespace cutover
