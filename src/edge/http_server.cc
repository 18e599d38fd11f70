// The edge's only Boost.Beast translation unit: listener, sessions, event loops.
#include "edge/http_server.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/intrusive/list.hpp>
#include <cassert>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/listen.h"
#include "common/log.h"
#include "cutover/common/ascii.h"
#include "cutover/common/guard.h"
#include "cutover/common/http.h"
#include "cutover/pointer/access.h"

namespace cutover::edge {
namespace {

using namespace net;  // NOLINT(google-build-using-namespace): Asio, Beast and the listen helpers
namespace http = beast::http;

constexpr std::size_t kChunkBytes = 64 * 1024;  // one read + one write per piece of a large file

// Where the parser copies what the handler needs; owned by the session so their capacity is
// reused from request to request.
struct HeadFields {
  std::string method;
  std::string target;
  std::string host;
  std::string if_none_match;
  std::string if_modified_since;
  std::string range;
  std::string if_range;
  std::string accept_encoding;
  std::string accept;
  std::string cookie;
  std::string pin;
  std::string bypass;
  std::string sec_fetch_mode;
  std::string referer;
  std::string user_agent;
  RequestHead head;

  void clear() {
    for (std::string* s : {&method, &target, &host, &if_none_match, &if_modified_since, &range,
                           &if_range, &accept_encoding, &accept, &cookie, &pin, &bypass,
                           &sec_fetch_mode, &referer, &user_agent}) {
      s->clear();
    }
    head = RequestHead{};
  }
};

// A field that may be sent several times, joined the way RFC 9110 §5.3 allows.
void join(std::string& into, std::string_view value, std::string_view separator) {
  if (!into.empty()) into.append(separator);
  into.append(value);
}

// Parses a request head straight into HeadFields, without building a field map.
class HeadParser final : public http::basic_parser<true> {
 public:
  explicit HeadParser(HeadFields& fields) : fields_(fields) { fields_.clear(); }

 private:
  void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                       int version, error_code& /*ec*/) override {
    fields_.head.method = method == http::verb::get    ? Method::get
                          : method == http::verb::head ? Method::head
                                                       : Method::other;
    fields_.method.assign(view(method_str));
    fields_.target.assign(view(target));
    fields_.head.http10 = version < 11;
  }

  void on_response_impl(int, beast::string_view, int, error_code& ec) override {
    ec = http::error::bad_method;  // never called for a request parser
  }

  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     error_code& ec) override {
    std::string_view v = view(value);
    switch (name) {
      case http::field::host:
        if (fields_.head.has_host) {
          ec = http::error::bad_field;  // two Host fields: ambiguous, so refused
          return;
        }
        fields_.host.assign(v);
        fields_.head.has_host = true;
        break;
      case http::field::if_none_match:
        join(fields_.if_none_match, v, ", ");
        fields_.head.has_if_none_match = true;
        break;
      case http::field::if_modified_since:
        fields_.if_modified_since.assign(v);
        break;
      case http::field::range:
        if (fields_.head.has_range)
          fields_.range.assign(",");  // two Range fields: ignored
        else
          fields_.range.assign(v);
        fields_.head.has_range = true;
        break;
      case http::field::if_range:
        fields_.if_range.assign(v);
        break;
      case http::field::accept_encoding:
        join(fields_.accept_encoding, v, ", ");
        break;
      case http::field::accept:
        join(fields_.accept, v, ", ");
        break;
      case http::field::cookie:
        join(fields_.cookie, v, "; ");
        break;
      case http::field::referer:
        fields_.referer.assign(v);
        break;
      case http::field::user_agent:
        fields_.user_agent.assign(v);
        break;
      case http::field::transfer_encoding:
        // RFC 9112 §6.3: a request's body is delimited only when chunked is its one and last
        // coding (the parser already refuses it beside a Content-Length, or twice). Anything else
        // ("gzip", "identity", "chunked, gzip") leaves its end unknown: refused, and the
        // connection closes rather than read the rest as the next request.
        if (!equalsIgnoreCase(trimBlanks(v), "chunked")) ec = http::error::bad_transfer_encoding;
        break;
      default: {
        std::string_view n = view(name_string);
        if (equalsIgnoreCase(n, "sec-fetch-mode")) {
          fields_.sec_fetch_mode.assign(v);
        } else if (equalsIgnoreCase(n, "x-cutover-pin")) {
          fields_.pin.assign(v);
        } else if (equalsIgnoreCase(n, kBypassHeader)) {
          fields_.bypass.assign(v);
        }
      }
    }
  }

  void on_header_impl(error_code& /*ec*/) override {
    RequestHead& h = fields_.head;
    h.method_name = fields_.method;
    h.target = fields_.target;
    h.host = fields_.host;
    h.if_none_match = fields_.if_none_match;
    h.if_modified_since = fields_.if_modified_since;
    h.range = fields_.range;
    h.if_range = fields_.if_range;
    h.accept_encoding = fields_.accept_encoding;
    h.accept = fields_.accept;
    h.cookie = fields_.cookie;
    h.pin = fields_.pin;
    h.bypass = fields_.bypass;
    h.sec_fetch_mode = fields_.sec_fetch_mode;
    h.referer = fields_.referer;
    h.user_agent = fields_.user_agent;
  }

  void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, error_code&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  HeadFields& fields_;
};

class Session;

using Clock = std::chrono::steady_clock;

// A session waiting for its next request, in its worker's list of idle ones (oldest first).
struct IdleLink
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
  Session* session = nullptr;
  Clock::rep since = 0;
};
using IdleList = boost::intrusive::list<IdleLink, boost::intrusive::constant_time_size<false>>;

// One thread and its event loop. Sessions live on exactly one worker and are only touched from
// its thread, so they need no locks.
struct Worker {
  std::unordered_set<Session*> sessions;   // declared before ioc: sessions die with ioc
  IdleList idle;                           // owned by the thread; the atomics below mirror it
  std::atomic<Clock::rep> oldest_idle{0};  // when the first in `idle` went idle; 0: none
  std::atomic<std::size_t> idle_count{0};
  std::atomic<std::size_t> reclaims_pending{0};  // posted by other workers, not yet run
  asio::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;    // this thread's socket on the shared port
  std::optional<asio::steady_timer> retry;  // pauses accepting after an accept error
  std::string log_lines;                    // access log lines not yet written
  std::optional<asio::steady_timer> log_timer;
  std::thread thread;
};

constexpr std::size_t kLogFlushBytes = 64 * 1024;  // or once a second, whichever comes first

struct Shared {
  const Handler& handler;
  ServerOptions options;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  std::mutex clients_mutex;  // taken once when a connection opens and once when it closes
  std::unordered_map<ClientKey, std::size_t, ClientKeyHash> clients;

  // Counts a new connection from `key`; false if that client has its share already.
  bool admitClient(const ClientKey& key) {
    if (options.max_connections_per_client == 0) return true;
    std::lock_guard lock(clients_mutex);
    std::size_t& open = clients[key];
    if (open >= options.max_connections_per_client) return false;
    ++open;
    return true;
  }
  void releaseClient(const ClientKey& key) {
    if (options.max_connections_per_client == 0) return;
    std::lock_guard lock(clients_mutex);
    auto it = clients.find(key);
    if (it != clients.end() && --it->second == 0) clients.erase(it);
  }
};

// Keeps the atomics other workers read in step with the worker's idle list.
void publishIdle(Worker& worker) {
  worker.oldest_idle.store(worker.idle.empty() ? 0 : worker.idle.front().since,
                           std::memory_order_relaxed);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `client`: counted against its address by Shared::admitClient; released when the session ends.
  Session(tcp::socket socket, Shared& shared, Worker& worker, const ClientKey& client)
      : stream_(std::move(socket)), shared_(shared), worker_(worker), client_(client) {
    shared_.connections.fetch_add(1, std::memory_order_relaxed);
    idle_.session = this;
  }

  ~Session() {
    leaveIdle();
    if (registered_) worker_.sessions.erase(this);
    shared_.releaseClient(client_);
    shared_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs on the worker's thread.
  void start() {
    worker_.sessions.insert(this);
    registered_ = true;
    if (shared_.stopping.load()) return stream_.close();
    error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    if (shared_.options.access_log != nullptr) {
      auto remote = stream_.socket().remote_endpoint(ec);
      if (!ec) remote_ = remote.address().to_string();
    }
    // The first request's whole head is due within header_timeout of the accept.
    waitForRequest(Clock::now() + shared_.options.header_timeout);
  }

  // Server shutdown: a connection between requests closes now; one answering a request closes
  // once the response is written.
  void onStop() {
    if (state_ != State::writing) stream_.close();
  }

  // The worker needs room for a new connection: this one, idle the longest, closes. Its client
  // sent nothing since its last response, so it loses nothing but the connection (RFC 9112 §9.3.1
  // lets a client retry a request that found its kept-alive connection closed).
  void reclaim() {
    leaveIdle();
    stream_.close();  // the pending read ends with an error, and the session with it
  }

 private:
  enum class State { idle, reading, writing };

  void enterIdle() {
    idle_.since = Clock::now().time_since_epoch().count();
    worker_.idle.push_back(idle_);
    worker_.idle_count.fetch_add(1, std::memory_order_relaxed);
    publishIdle(worker_);
  }

  void leaveIdle() {
    if (!idle_.is_linked()) return;
    idle_.unlink();
    worker_.idle_count.fetch_sub(1, std::memory_order_relaxed);
    publishIdle(worker_);
  }

  // Waits, without a parser, for the first byte of the next request: until then the connection
  // is idle and may be reclaimed. `head_deadline`: when the first request's head is due, or
  // nothing for a kept-alive connection (idle_timeout, then header_timeout from its first byte).
  void waitForRequest(std::optional<Clock::time_point> head_deadline = std::nullopt) {
    if (buffer_.size() > 0) return readHead(head_deadline);  // a pipelined request is here already
    if (shared_.stopping.load(std::memory_order_relaxed)) return stream_.close();
    state_ = State::idle;
    enterIdle();
    if (head_deadline) {
      stream_.expires_at(*head_deadline);
    } else {
      stream_.expires_after(shared_.options.idle_timeout);
    }
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this(), head_deadline](
                                                       error_code ec, std::size_t n) {
      self->leaveIdle();
      if (ec) return self->stream_.close();
      self->buffer_.commit(n);
      self->readHead(head_deadline);
    });
  }

  void readHead(std::optional<Clock::time_point> deadline = std::nullopt) {
    state_ = State::reading;
    parser_.emplace(fields_);
    parser_->header_limit(static_cast<std::uint32_t>(shared_.options.max_header_bytes));
    if (deadline) {
      stream_.expires_at(*deadline);
    } else {
      stream_.expires_after(shared_.options.header_timeout);
    }
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->onHead(ec); });
  }

  void onHead(error_code ec) {
    state_ = State::writing;
    if (ec) {
      // A client that went away or went quiet gets no answer; one that sent garbage gets told.
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::operation_aborted || ec == beast::error::timeout ||
          ec == asio::error::connection_reset || shared_.stopping.load()) {
        return stream_.close();
      }
      reply_.reset();
      if (ec == http::error::header_limit) {
        reply_.setText(431, "the request head is too large");
      } else {
        reply_.setText(400, "malformed HTTP request");
      }
      reply_.close = true;
      return writeReply(false);
    }
    const RequestHead& head = fields_.head;
    if (!parser_->is_done()) {
      // A request with a body: a static site has no use for one, and reading it is not worth it.
      reply_.reset();
      if (head.method == Method::other) {
        reply_.setText(405, "only GET and HEAD are allowed");
        reply_.allow = true;
      } else {
        reply_.setText(413, "requests with a body are not accepted");
      }
      reply_.close = true;
      return writeReply(head.http10);
    }
    shared_.handler.handle(head, reply_, scratch_);
    if (!parser_->keep_alive()) reply_.close = true;
    writeReply(head.http10);
  }

  void writeReply(bool http10) {
    state_ = State::writing;
    if (shared_.stopping.load(std::memory_order_relaxed)) reply_.close = true;
    head_.clear();
    appendHead(head_, reply_, !reply_.close, http10);
    stream_.expires_after(shared_.options.write_timeout);
    auto self = shared_from_this();
    if (reply_.omit_body) {
      return asio::async_write(stream_, asio::buffer(head_),
                               [self](error_code ec, std::size_t) { self->onWritten(ec); });
    }
    if (reply_.file.valid() && shared_.options.sendfile) {
      offset_ = 0;
      return asio::async_write(stream_, asio::buffer(head_), [self](error_code ec, std::size_t) {
        if (ec) return self->stream_.close();
        self->sendFileBody();
      });
    }
    if (reply_.file.valid()) {
      offset_ = 0;  // bytes of the body sent; the file is read from file_offset + offset_
      std::size_t n = readChunk();
      if (n == 0 && reply_.content_length > 0) return stream_.close();
      std::array buffers{asio::const_buffer(head_.data(), head_.size()),
                         asio::const_buffer(chunk_.data(), n)};
      return asio::async_write(stream_, buffers,
                               [self](error_code ec, std::size_t) { self->onChunkWritten(ec); });
    }
    std::array buffers{asio::const_buffer(head_.data(), head_.size()),
                       asio::const_buffer(reply_.body.data(), reply_.body.size())};
    asio::async_write(stream_, buffers,
                      [self](error_code ec, std::size_t) { self->onWritten(ec); });
  }

  // Sends the rest of a file body with sendfile(2): the kernel copies from the page cache to the
  // socket. When the socket is full, waits until it drains, for at most write_timeout.
  void sendFileBody() {
    auto& socket = stream_.socket();
    error_code ec;
    if (!socket.native_non_blocking()) socket.native_non_blocking(true, ec);
    while (offset_ < reply_.content_length) {
      auto at = static_cast<off_t>(reply_.file_offset + offset_);
      std::size_t want = static_cast<std::size_t>(
          std::min<std::uint64_t>(reply_.content_length - offset_, std::uint64_t{1} << 30));
      ssize_t n = ::sendfile(socket.native_handle(), reply_.file.get(), &at, want);
      if (n > 0) {
        offset_ += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return waitToSend();
      if (n == 0 || errno != EPIPE) {
        log::error("cutover edge: a blob ended or failed at byte {} of {}", offset_,
                   reply_.content_length);
      }
      return stream_.close();  // the head promised more bytes: a cut is all that is left to say
    }
    onWritten({});
  }

  void waitToSend() {
    if (!send_timer_) send_timer_.emplace(stream_.get_executor());
    auto self = shared_from_this();
    send_timer_->expires_after(shared_.options.write_timeout);
    send_timer_->async_wait([self](error_code ec) {
      if (!ec) self->stream_.close();  // the client stopped reading
    });
    stream_.socket().async_wait(tcp::socket::wait_write, [self](error_code ec) {
      self->send_timer_->cancel();
      if (ec) return self->stream_.close();
      self->sendFileBody();
    });
  }

  // Reads the next piece of a streamed body into chunk_; 0 at the end or on a read error.
  std::size_t readChunk() {
    std::uint64_t left = reply_.content_length - offset_;
    if (left == 0) return 0;
    if (chunk_.size() < kChunkBytes) chunk_.resize(kChunkBytes);
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk_.size()));
    ssize_t n;
    do {
      n = ::pread(reply_.file.get(), chunk_.data(), want,
                  static_cast<off_t>(reply_.file_offset + offset_));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      log::error("cutover edge: a blob ended or failed at byte {} of {}", offset_,
                 reply_.content_length);
      return 0;
    }
    offset_ += static_cast<std::uint64_t>(n);
    return static_cast<std::size_t>(n);
  }

  void onChunkWritten(error_code ec) {
    if (ec) return stream_.close();
    if (offset_ == reply_.content_length) return onWritten(ec);
    std::size_t n = readChunk();
    // The head promised content_length bytes; a connection cut short is all we can still say.
    if (n == 0) return stream_.close();
    stream_.expires_after(shared_.options.write_timeout);
    asio::async_write(
        stream_, asio::buffer(chunk_.data(), n),
        [self = shared_from_this()](error_code e, std::size_t) { self->onChunkWritten(e); });
  }

  void onWritten(error_code ec) {
    if (shared_.options.access_log != nullptr) logRequest(ec);
    bool close = reply_.close;
    reply_.reset();  // unpins the version and releases the body now, not at the next request
    if (ec) return stream_.close();
    if (close) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return stream_.close();
    }
    waitForRequest();
  }

  void logRequest(error_code ec) {
    const RequestHead& h = fields_.head;
    std::uint64_t sent = reply_.omit_body || ec ? 0 : reply_.content_length;
    shared_.options.access_log->append(
        worker_.log_lines,
        LoggedRequest{remote_, h.method_name, h.target, h.http10, reply_.status, sent, h.referer,
                      h.user_agent, h.host, reply_.log_site, reply_.log_version});
    if (worker_.log_lines.size() >= kLogFlushBytes) {
      shared_.options.access_log->write(worker_.log_lines);
    }
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  Worker& worker_;
  ClientKey client_;
  IdleLink idle_;  // linked into worker_.idle while waiting for a request
  bool registered_ = false;
  State state_ = State::reading;
  beast::flat_buffer buffer_;
  HeadFields fields_;
  std::optional<HeadParser> parser_;
  RequestScratch scratch_;
  Reply reply_;
  std::string head_;
  std::vector<char> chunk_;
  std::uint64_t offset_ = 0;
  std::string remote_;                            // the client's address, for the access log
  std::optional<asio::steady_timer> send_timer_;  // bounds each wait of a sendfile body
};

}  // namespace

// Sent to a connection over the limit, as it is closed: a client can tell a busy server from a
// dead one and retry.
constexpr std::string_view kBusyReply =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 37\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    "the server is busy; try again shortly\n";

class HttpServer final : public HttpServerBase {
 public:
  HttpServer(const Handler& handler, ServerOptions options)
      : shared{handler, options, {}, {}, {}, {}} {
    unsigned n = std::max(1U, options.threads);
    for (unsigned i = 0; i < n; ++i) {
      auto worker = std::make_unique<Worker>();
      worker->retry.emplace(worker->ioc);
      worker->log_timer.emplace(worker->ioc);
      workers.push_back(std::move(worker));
    }
  }

  // Each worker accepts on its own socket and keeps the connections it accepts: no hand-off
  // between threads on the way in.
  void accept(Worker& worker) {
    worker.acceptor->async_accept([this, &worker](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || shared.stopping.load()) return;
      if (ec) {
        // Out of descriptors, most likely: pause instead of spinning.
        log::error("cutover edge: accept failed: {}", ec.message());
        worker.retry->expires_after(std::chrono::milliseconds(50));
        worker.retry->async_wait([this, &worker](error_code e) {
          if (!e && !shared.stopping.load()) accept(worker);
        });
        return;
      }
      auto peer = clientKeyOfPeer(socket.native_handle());
      ClientKey client = peer.value_or(ClientKey{});
      bool admitted = peer && shared.admitClient(client);
      if (admitted &&
          shared.connections.load(std::memory_order_relaxed) >= shared.options.max_connections &&
          !reclaimIdle(worker)) {
        shared.releaseClient(client);
        admitted = false;
      }
      if (admitted) {
        std::make_shared<Session>(std::move(socket), shared, worker, client)->start();
      } else {
        // Best effort, without waiting: the socket's buffer takes this much at once.
        sendWithoutWaiting(socket.native_handle(), kBusyReply);
        error_code ignored;
        socket.close(ignored);
      }
      accept(worker);
    });
  }

  // Closes the connection idle the longest, on whichever worker holds it, to make room for a new
  // one; false if no connection is idle. Another worker's is closed on its own thread, a moment
  // later: until then the count may exceed the limit by the reclaims under way.
  bool reclaimIdle(Worker& self) {
    Worker* oldest = nullptr;
    Clock::rep oldest_since = 0;
    for (auto& w : workers) {
      Clock::rep since = w->oldest_idle.load(std::memory_order_relaxed);
      if (since == 0) continue;
      // Idle sessions already promised to earlier reclaims are not counted twice.
      if (w->idle_count.load(std::memory_order_relaxed) <=
          w->reclaims_pending.load(std::memory_order_relaxed)) {
        continue;
      }
      if (oldest == nullptr || since < oldest_since) {
        oldest = w.get();
        oldest_since = since;
      }
    }
    if (oldest == nullptr) return false;
    if (oldest == &self) {
      self.idle.front().session->reclaim();
      return true;
    }
    oldest->reclaims_pending.fetch_add(1, std::memory_order_relaxed);
    asio::post(oldest->ioc, [oldest] {
      oldest->reclaims_pending.fetch_sub(1, std::memory_order_relaxed);
      // It may have become busy meanwhile; then nothing is closed.
      if (!oldest->idle.empty()) oldest->idle.front().session->reclaim();
    });
    return true;
  }

  // Writes what the worker's access log buffer holds, once a second.
  void flushLogEverySecond(Worker& worker) {
    worker.log_timer->expires_after(std::chrono::seconds(1));
    worker.log_timer->async_wait([this, &worker](error_code ec) {
      if (!worker.log_lines.empty()) shared.options.access_log->write(worker.log_lines);
      if (!ec && !shared.stopping.load()) flushLogEverySecond(worker);
    });
  }

  ~HttpServer() override { stop(std::chrono::milliseconds(0)); }
  [[nodiscard]] Result<std::uint16_t> listen(const std::string& host_port) override;
  void start() override;
  void stop(std::chrono::milliseconds grace) override;

  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  bool running = false;
  bool stopped = false;
};

std::unique_ptr<HttpServerBase> makeHttpServer(const Handler& handler, ServerOptions options) {
  return std::make_unique<HttpServer>(handler, options);
}

Result<std::uint16_t> HttpServer::listen(const std::string& host_port) {
  auto endpoint = parseEndpoint(host_port);
  if (!endpoint) return tl::unexpected(endpoint.error());
  // SO_REUSEPORT would also let this server share a port with another process that set it (a
  // second `cutover serve`, say) and silently split its traffic. A plain bind first turns that
  // into the usual "address already in use".
  if (endpoint->port() != 0) {
    tcp::acceptor probe(workers.front()->ioc);
    error_code ec;
    probe.open(endpoint->protocol(), ec);
    if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(*endpoint, ec);
    if (ec) return fail(Errc::io, "cannot listen on " + host_port + ": " + ec.message());
  }
  tcp::endpoint bound = *endpoint;
  for (auto& worker : workers) {
    auto acceptor = openAcceptor(worker->ioc, bound, host_port, /*reuse_port=*/true);
    if (!acceptor) return tl::unexpected(acceptor.error());
    auto port = boundPort(*acceptor, host_port);  // port 0 resolved by the first socket
    if (!port) return tl::unexpected(port.error());
    bound.port(*port);
    worker->acceptor.emplace(std::move(*acceptor));
  }
  return bound.port();
}

void HttpServer::start() {
  assert(workers.front()->acceptor && !running);
  running = true;
  for (auto& worker : workers) {
    accept(*worker);
    if (shared.options.access_log != nullptr) flushLogEverySecond(*worker);
    // Without a work guard a loop would end between connections; it runs until stop().
    Worker* w = worker.get();
    w->thread = std::thread([w] {
      auto guard = asio::make_work_guard(w->ioc);
      // An exception out of a handler ends the session it came from; the loop runs on.
      while (!guarded("an edge worker", [&] { w->ioc.run(); })) {
      }
    });
  }
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  HttpServer& impl = *this;
  if (impl.stopped) return;
  impl.stopped = true;
  impl.shared.stopping.store(true);
  if (!impl.running) return;
  for (auto& worker : impl.workers) {
    Worker* w = worker.get();
    asio::post(w->ioc, [w] {
      error_code ignored;
      w->retry->cancel();
      w->acceptor->close(ignored);
      // Copy: onStop() may end a session, which erases itself from the set.
      std::vector<Session*> sessions(w->sessions.begin(), w->sessions.end());
      for (Session* s : sessions) {
        if (w->sessions.contains(s)) s->onStop();
      }
    });
  }
  waitForDrain(grace, std::chrono::milliseconds(5),
               [&] { return impl.shared.connections.load() == 0; });
  for (auto& worker : impl.workers) worker->ioc.stop();
  for (auto& worker : impl.workers) {
    if (worker->thread.joinable()) worker->thread.join();
    // A loop stopped before it ran the close posted above leaves its socket listening, and new
    // connections would queue on it unanswered: the port is closed once stop() returns.
    error_code ignored;
    if (worker->acceptor) worker->acceptor->close(ignored);
    if (impl.shared.options.access_log != nullptr && !worker->log_lines.empty()) {
      impl.shared.options.access_log->write(worker->log_lines);
    }
  }
}

}  // namespace cutover::edge
