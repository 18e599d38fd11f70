// The API's only Boost.Beast translation unit: accepting, parsing requests, reading bodies.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <list>
#include <mutex>
#include <thread>

#include "api/http.h"
#include "common/listen.h"
#include "common/log.h"
#include "cutover/common/ascii.h"
#include "cutover/common/guard.h"
#include "cutover/common/http.h"

namespace cutover::api {
namespace {

using namespace net;  // NOLINT(google-build-using-namespace): Asio, Beast and the listen helpers
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string errorJson(std::string_view code, std::string_view message) {
  // Only fixed texts pass here, none needing escapes.
  return "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" +
         std::string(message) + "\"}}";
}

struct Shared;

// Where a connection is. Only a waiting one may be reclaimed (closed to make room for another);
// the switch to working or reclaimed is one compare-and-set, so a connection whose request head
// has just arrived is never cut off.
enum class Phase { waiting, working, reclaimed };

// One accepted connection and the thread serving it. The watchdog may shut its socket down
// (never close it) while holding Shared::mutex; the thread closes it after unregistering.
struct Connection {
  tcp::socket socket;
  int fd;  // for shutdown() from the watchdog: a plain syscall, safe beside a blocked read
  ClientKey client;
  std::atomic<std::int64_t> deadline_ms{0};  // 0: no deadline (the route is working)
  std::atomic<Phase> phase{Phase::waiting};  // waiting: for (the rest of) a request head
  std::atomic<std::int64_t> waiting_since_ms{0};
  std::atomic<bool> timed_out{false};
  std::atomic<bool> done{false};
  std::thread thread;

  Connection(tcp::socket s, const ClientKey& key)
      : socket(std::move(s)), fd(socket.native_handle()), client(key) {
    waiting_since_ms = nowMs();
  }

  [[nodiscard]] bool waiting() const { return phase == Phase::waiting; }
  // Counts against the limits: not finished, and not closed to make room.
  [[nodiscard]] bool open() const { return !done && phase != Phase::reclaimed; }

  // The serving thread, between requests.
  void startWaiting() {
    waiting_since_ms = nowMs();
    phase = Phase::waiting;
  }
  // The serving thread, once a head is read; false if the connection was reclaimed meanwhile.
  bool startWorking() {
    Phase expected = Phase::waiting;
    return phase.compare_exchange_strong(expected, Phase::working);
  }
  // Another thread, under Shared::mutex; false if the connection is working after all.
  bool reclaim() {
    Phase expected = Phase::waiting;
    if (!phase.compare_exchange_strong(expected, Phase::reclaimed)) return false;
    shutdown();
    return true;
  }

  void expiresAfter(std::chrono::milliseconds timeout) {
    timed_out = false;
    deadline_ms = nowMs() + timeout.count();
  }
  void noDeadline() { deadline_ms = 0; }
  void shutdown() const { ::shutdown(fd, SHUT_RDWR); }
};

struct Shared {
  HttpHandler handler;
  ListenerOptions options;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable wake;  // the watchdog's sleep, cut short by stop()
  std::list<std::unique_ptr<Connection>> connections;
};

using Parser = http::request_parser<http::buffer_body>;

class ParserBody final : public BodyReader {
 public:
  ParserBody(Connection& c, beast::flat_buffer& buffer, Parser& parser, Shared& shared,
             bool expect_continue)
      : c_(c),
        buffer_(buffer),
        parser_(parser),
        shared_(shared),
        expect_continue_(expect_continue) {}

  Result<std::size_t> read(std::span<std::byte> out) override {
    if (parser_.is_done() || out.empty()) return 0;
    if (expect_continue_) {
      // The client waits for this before sending a body (curl does for large ones).
      expect_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      c_.expiresAfter(shared_.options.write_timeout);
      error_code ec;
      asio::write(c_.socket, asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) return broken(ec);
    }
    while (true) {
      parser_.get().body().data = out.data();
      parser_.get().body().size = out.size();
      parser_.get().body().more = true;
      c_.expiresAfter(shared_.options.read_timeout);
      error_code ec;
      http::read(c_.socket, buffer_, parser_, ec);
      c_.noDeadline();
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return broken(ec);
      std::size_t n = out.size() - parser_.get().body().size;
      received_ += n;
      if (n > 0 || parser_.is_done()) return n;
    }
  }

 private:
  Result<std::size_t> broken(const error_code& ec) {
    if (c_.timed_out) {
      return fail(Errc::io, "the client sent no data for " +
                                std::to_string(shared_.options.read_timeout.count()) +
                                " ms; the upload was abandoned after " + std::to_string(received_) +
                                " bytes");
    }
    return fail(Errc::io, "the connection broke off after " + std::to_string(received_) +
                              " bytes of the body (" + ec.message() + ")");
  }

  Connection& c_;
  beast::flat_buffer& buffer_;
  Parser& parser_;
  Shared& shared_;
  bool expect_continue_;
  std::uint64_t received_ = 0;
};

class SocketWriter final : public ResponseWriter {
 public:
  SocketWriter(Connection& c, Shared& shared, Parser& parser, bool http10)
      : c_(c), shared_(shared), parser_(parser), http10_(http10) {}

  void send(int status, std::string_view body, std::string_view content_type,
            const ExtraHeaders& extra) override {
    if (sent_) return;
    sent_ = true;
    std::string head = headFor(status, content_type, extra);
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    std::array buffers{asio::const_buffer(head.data(), head.size()),
                       asio::const_buffer(body.data(), body.size())};
    write(buffers);
  }

  bool beginStream(int status, std::string_view content_type) override {
    if (sent_) return false;
    sent_ = true;
    streaming_ = true;
    if (http10_) close_ = true;  // no chunked encoding: the end of the body is the close
    std::string head = headFor(status, content_type, {});
    head += http10_ ? "\r\n" : "Transfer-Encoding: chunked\r\n\r\n";
    return write(std::array{asio::const_buffer(head.data(), head.size())});
  }

  bool writeChunk(std::string_view bytes) override {
    if (failed_ || shared_.stopping) return false;
    if (bytes.empty()) return true;
    if (http10_) return write(std::array{asio::const_buffer(bytes.data(), bytes.size())});
    char size[32];
    int n = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
    std::array buffers{asio::const_buffer(size, static_cast<std::size_t>(n)),
                       asio::const_buffer(bytes.data(), bytes.size()),
                       asio::const_buffer("\r\n", 2)};
    return write(buffers);
  }

  void endStream() override {
    if (!streaming_ || http10_) return;
    write(std::array{asio::const_buffer("0\r\n\r\n", 5)});
  }

  bool stopping() const override { return shared_.stopping; }

  [[nodiscard]] bool sent() const { return sent_; }
  [[nodiscard]] bool keepConnection() const { return !close_ && !failed_; }

 private:
  std::string headFor(int status, std::string_view content_type, const ExtraHeaders& extra) {
    // A body left unread cannot be told from the next request: close instead.
    if (!parser_.is_done() || !parser_.keep_alive() || shared_.stopping) close_ = true;
    std::string head =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(reasonPhrase(status)) + "\r\n";
    head += "Content-Type: " + std::string(content_type) + "\r\n";
    head += "Cache-Control: no-store\r\n";
    for (const auto& [name, value] : extra) head += name + ": " + value + "\r\n";
    if (close_) head += "Connection: close\r\n";
    return head;
  }

  template <class Buffers>
  bool write(const Buffers& buffers) {
    if (failed_) return false;
    c_.expiresAfter(shared_.options.write_timeout);
    error_code ec;
    asio::write(c_.socket, buffers, ec);
    c_.noDeadline();
    if (ec) failed_ = true;
    return !failed_;
  }

  Connection& c_;
  Shared& shared_;
  Parser& parser_;
  bool http10_;
  bool sent_ = false;
  bool streaming_ = false;
  bool close_ = false;
  bool failed_ = false;
};

void sendRaw(Connection& c, Shared& shared, int status, std::string_view code,
             std::string_view message) {
  std::string body = errorJson(code, message);
  std::string text =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(reasonPhrase(status)) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  c.expiresAfter(shared.options.write_timeout);
  error_code ignored;
  asio::write(c.socket, asio::buffer(text), ignored);
  c.noDeadline();
}

// RFC 9112 §6.3: a request's body is delimited only by a Content-Length or by chunked as its one
// and last coding; the parser refuses the two together and a repeated chunked, but takes "gzip",
// "identity" or "chunked, gzip" as no body at all, and the rest as the next request.
bool framingIsValid(const Parser& parser) {
  std::size_t encodings = 0;
  for (const auto& field : parser.get()) {
    if (field.name() != http::field::transfer_encoding) continue;
    if (++encodings > 1 || !equalsIgnoreCase(trimBlanks(view(field.value())), "chunked")) {
      return false;
    }
  }
  return true;
}

HttpRequest toRequest(const Parser& parser) {
  const auto& message = parser.get();
  HttpRequest request;
  request.method.assign(view(message.method_string()));
  request.target.assign(view(message.target()));
  auto question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) request.query = request.target.substr(question + 1);
  for (const auto& field : message) {
    std::string name(view(field.name_string()));
    auto [it, inserted] = request.headers.emplace(name, std::string(view(field.value())));
    if (!inserted) it->second += ", " + std::string(view(field.value()));
  }
  if (auto length = parser.content_length()) request.content_length = *length;
  request.has_body = !parser.is_done();
  return request;
}

void serve(Connection& c, Shared& shared) {
  error_code ec;
  c.socket.set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;
  bool first = true;
  while (!shared.stopping) {
    Parser parser;
    parser.header_limit(static_cast<std::uint32_t>(shared.options.max_header_bytes));
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // each route sets its own
    if (!first) c.startWaiting();
    c.expiresAfter(first ? shared.options.header_timeout : shared.options.idle_timeout);
    first = false;
    http::read_header(c.socket, buffer, parser, ec);
    c.noDeadline();
    if (!c.startWorking()) return;  // closed to make room for another connection
    if (ec) {
      if (ec == http::error::header_limit) {
        sendRaw(c, shared, 431, "too_large", "the request head is too large");
      } else if (ec != http::error::end_of_stream && ec != asio::error::eof && !c.timed_out &&
                 !shared.stopping && ec != asio::error::connection_reset) {
        sendRaw(c, shared, 400, "invalid_argument", "malformed HTTP request");
      }
      return;
    }
    if (!framingIsValid(parser)) {
      sendRaw(c, shared, 400, "invalid_argument",
              "the request's Transfer-Encoding is not chunked alone, so its body cannot be "
              "delimited");
      return;
    }
    HttpRequest request = toRequest(parser);
    auto expect = request.headers.find("expect");
    bool expect_continue = expect != request.headers.end() && expect->second == "100-continue";
    ParserBody body(c, buffer, parser, shared, expect_continue && request.has_body);
    SocketWriter writer(c, shared, parser, parser.get().version() < 11);
    shared.handler(request, body, writer);
    if (!writer.sent()) {
      writer.send(500, errorJson("io", "the request was not answered"), "application/json", {});
    }
    if (!writer.keepConnection()) return;
  }
}

}  // namespace

class HttpListener final : public HttpServerBase {
 public:
  HttpListener(HttpHandler handler, ListenerOptions options)
      : shared{std::move(handler), options, {}, {}, {}, {}} {}

  void acceptLoop() {
    while (!shared.stopping) {
      tcp::socket socket(ioc);
      error_code ec;
      acceptor->accept(socket, ec);
      if (shared.stopping) return;
      if (ec) {
        log::error("cutover api: accept failed: {}", ec.message());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      reap();
      std::lock_guard lock(shared.mutex);
      auto peer = clientKeyOfPeer(socket.native_handle());
      auto connection = std::make_unique<Connection>(std::move(socket), peer.value_or(ClientKey{}));
      Connection* c = connection.get();
      if (!peer || !makeRoom(c->client)) {
        // Answered here, without a thread; the socket buffer takes this small reply at once.
        std::string body = errorJson("unavailable", "too many connections, try again later");
        std::string busy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        sendWithoutWaiting(c->fd, busy);
        continue;
      }
      shared.connections.push_back(std::move(connection));
      c->thread = std::thread([this, c] {
        (void)guarded("an API connection", [&] { serve(*c, shared); });
        c->shutdown();
        c->done = true;
      });
    }
  }

  // Whether a connection from `client` may open, closing the connection that has waited the
  // longest for a request head (of that client when it is at its share, else of all) when that
  // makes room. Caller holds shared.mutex.
  bool makeRoom(const ClientKey& client) {
    auto count = [&](bool of_client) {
      return std::count_if(shared.connections.begin(), shared.connections.end(), [&](auto& c) {
        return c->open() && (!of_client || c->client == client);
      });
    };
    auto reclaimOldest = [&](bool of_client) {
      while (true) {
        Connection* oldest = nullptr;
        for (auto& c : shared.connections) {
          if (!c->waiting() || c->done || (of_client && c->client != client)) continue;
          if (oldest == nullptr || c->waiting_since_ms < oldest->waiting_since_ms) oldest = c.get();
        }
        if (oldest == nullptr) return false;
        if (oldest->reclaim()) return true;  // else it started working just now: the next one
      }
    };
    std::size_t per_client = shared.options.max_connections_per_client;
    if (per_client != 0 && static_cast<std::size_t>(count(true)) >= per_client &&
        !reclaimOldest(true)) {
      return false;
    }
    return static_cast<std::size_t>(count(false)) < shared.options.max_connections ||
           reclaimOldest(false);
  }

  // Joins the threads of finished connections and frees them.
  void reap() {
    std::list<std::unique_ptr<Connection>> finished;
    {
      std::lock_guard lock(shared.mutex);
      for (auto it = shared.connections.begin(); it != shared.connections.end();) {
        if ((*it)->done) {
          finished.push_back(std::move(*it));
          it = shared.connections.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& c : finished) c->thread.join();
  }

  void watchdog() {
    std::unique_lock lock(shared.mutex);
    while (!watchdog_stop) {
      shared.wake.wait_for(lock, std::chrono::milliseconds(100));
      auto now = nowMs();
      for (auto& c : shared.connections) {
        auto deadline = c->deadline_ms.load();
        if (deadline != 0 && deadline < now && !c->done) {
          c->timed_out = true;
          c->shutdown();
        }
      }
    }
  }

  ~HttpListener() override { stop(std::chrono::milliseconds(0)); }
  [[nodiscard]] Result<std::uint16_t> listen(const std::string& host_port) override;
  void start() override;
  void stop(std::chrono::milliseconds grace) override;

  asio::io_context ioc{1};  // sync operations only: never run
  Shared shared;
  std::optional<tcp::acceptor> acceptor;
  std::thread accept_thread;
  std::thread watchdog_thread;
  bool watchdog_stop = false;  // under shared.mutex
  bool running = false;
  bool stopped = false;
};

std::unique_ptr<HttpServerBase> makeHttpListener(HttpHandler handler, ListenerOptions options) {
  return std::make_unique<HttpListener>(std::move(handler), options);
}

Result<std::uint16_t> HttpListener::listen(const std::string& host_port) {
  auto endpoint = parseEndpoint(host_port);
  if (!endpoint) return tl::unexpected(endpoint.error());
  auto opened = openAcceptor(ioc, *endpoint, host_port);
  if (!opened) return tl::unexpected(opened.error());
  auto port = boundPort(*opened, host_port);
  if (port) acceptor.emplace(std::move(*opened));
  return port;
}

void HttpListener::start() {
  running = true;
  accept_thread = std::thread([this] { acceptLoop(); });
  watchdog_thread = std::thread([this] { watchdog(); });
}

void HttpListener::stop(std::chrono::milliseconds grace) {
  HttpListener& impl = *this;
  if (impl.stopped) return;
  impl.stopped = true;
  impl.shared.stopping = true;
  if (!impl.running) return;
  // shutdown() wakes the blocked accept(); closing from another thread would race with it.
  ::shutdown(impl.acceptor->native_handle(), SHUT_RDWR);
  impl.accept_thread.join();
  {
    std::lock_guard lock(impl.shared.mutex);
    for (auto& c : impl.shared.connections) {
      if (c->waiting()) c->shutdown();
    }
  }
  waitForDrain(grace, std::chrono::milliseconds(10), [&] {
    impl.reap();
    std::lock_guard lock(impl.shared.mutex);
    if (impl.shared.connections.empty()) return true;
    // A connection that went idle after its last response is closed now, not at the deadline.
    for (auto& c : impl.shared.connections) {
      if (c->waiting()) c->shutdown();
    }
    return false;
  });
  {
    std::lock_guard lock(impl.shared.mutex);
    for (auto& c : impl.shared.connections) c->shutdown();
    impl.watchdog_stop = true;
    impl.shared.wake.notify_all();
  }
  impl.watchdog_thread.join();
  for (auto& c : impl.shared.connections) c->thread.join();
  impl.shared.connections.clear();
  error_code ignored;
  impl.acceptor->close(ignored);
}

}  // namespace cutover::api
