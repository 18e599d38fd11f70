// The API's listener over raw sockets: framing it refuses, and clients that hold connections
// without sending requests (idle, or a head sent byte by byte) against the ones that do.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "api_fixture.h"
#include "unit/edge/edge_fixture.h"

namespace cutover {
namespace {

using testing::eventually;

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking HTTP/1.1 client on a raw socket, from a chosen loopback address: it sends exactly
// the bytes a test writes.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, int /*receive_buffer*/ = 0,
                      const char* source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::inet_pton(AF_INET, source, &local.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect");
    }
  }
  ~HttpClient() { ::close(fd_); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  RawResponse get(const std::string& target, const std::string& host) {
    send("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    return read();
  }

  // One response; the body by its Content-Length (none for 1xx).
  RawResponse read() {
    RawResponse r;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) throw std::runtime_error("connection closed before a response head");
    }
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    r.status = std::stoi(head.substr(9, 3));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      std::size_t next = std::min(head.find("\r\n", pos + 2), head.size());
      std::string line = head.substr(pos + 2, next - pos - 2);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
      pos = next == head.size() ? std::string::npos : next;
    }
    if (r.status < 200) return r;
    std::size_t length =
        r.header("content-length").empty() ? 0 : std::stoull(r.header("content-length"));
    while (buffer_.size() < length) {
      if (!fill()) throw std::runtime_error("connection closed in a response body");
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // True if the server has closed the connection already (without waiting).
  bool closedNow() {
    if (!buffer_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // True if the server closed the connection (and sent nothing more) within the receive timeout.
  bool closedByServer() {
    if (!buffer_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

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
