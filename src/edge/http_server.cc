// The edge's only Boost.Beast translation unit: listener, sessions, event loops.
#include "edge/http_server.h"

#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <cassert>
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
#include <cstdio>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

namespace cutover::edge {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::size_t kChunkBytes = 64 * 1024;  // one read + one write per piece of a large file

std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

// Where the parser copies what the handler needs; owned by the session so their capacity is
// reused from request to request.
struct HeadFields {
  std::string target;
  std::string host;
  std::string if_none_match;
  RequestHead head;

  void clear() {
    target.clear();
    host.clear();
    if_none_match.clear();
    head = RequestHead{};
  }
};

// Parses a request head straight into HeadFields, without building a field map.
class HeadParser final : public http::basic_parser<true> {
 public:
  explicit HeadParser(HeadFields& fields) : fields_(fields) { fields_.clear(); }

 private:
  void on_request_impl(http::verb method, beast::string_view /*method_str*/,
                       beast::string_view target, int version, error_code& /*ec*/) override {
    fields_.head.method = method == http::verb::get    ? Method::get
                          : method == http::verb::head ? Method::head
                                                       : Method::other;
    fields_.target.assign(view(target));
    fields_.head.http10 = version < 11;
  }

  void on_response_impl(int, beast::string_view, int, error_code& ec) override {
    ec = http::error::bad_method;  // never called for a request parser
  }

  void on_field_impl(http::field name, beast::string_view /*name_string*/,
                     beast::string_view value, error_code& ec) override {
    if (name == http::field::host) {
      if (fields_.head.has_host) {
        ec = http::error::bad_field;  // two Host fields: ambiguous, so refused
        return;
      }
      fields_.host.assign(view(value));
      fields_.head.has_host = true;
    } else if (name == http::field::if_none_match) {
      if (fields_.head.has_if_none_match) fields_.if_none_match.append(", ");
      fields_.if_none_match.append(view(value));
      fields_.head.has_if_none_match = true;
    }
  }

  void on_header_impl(error_code& /*ec*/) override {
    fields_.head.target = fields_.target;
    fields_.head.host = fields_.host;
    fields_.head.if_none_match = fields_.if_none_match;
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

// One thread and its event loop. Sessions live on exactly one worker and are only touched from
// its thread, so they need no locks.
struct Worker {
  std::unordered_set<Session*> sessions;  // declared before ioc: sessions die with ioc
  asio::io_context ioc{1};
  std::thread thread;
};

struct Shared {
  const Handler& handler;
  ServerOptions options;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared, Worker& worker)
      : stream_(std::move(socket)), shared_(shared), worker_(worker) {
    shared_.connections.fetch_add(1, std::memory_order_relaxed);
  }

  ~Session() {
    if (registered_) worker_.sessions.erase(this);
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
    readHead();
  }

  // Server shutdown: a connection between requests closes now; one answering a request closes
  // once the response is written.
  void onStop() {
    if (state_ != State::writing) stream_.close();
  }

 private:
  enum class State { idle, reading, writing };

  void waitForRequest() {
    if (buffer_.size() > 0) return readHead();  // a pipelined request is here already
    if (shared_.stopping.load(std::memory_order_relaxed)) return stream_.close();
    state_ = State::idle;
    stream_.expires_after(shared_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (ec) return self->stream_.close();
                              self->buffer_.commit(n);
                              self->readHead();
                            });
  }

  void readHead() {
    state_ = State::reading;
    parser_.emplace(fields_);
    parser_->header_limit(static_cast<std::uint32_t>(shared_.options.max_header_bytes));
    stream_.expires_after(shared_.options.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              self->onHead(ec);
                            });
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
    if (reply_.file.valid()) {
      offset_ = 0;
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

  // Reads the next piece of a streamed body into chunk_; 0 at the end or on a read error.
  std::size_t readChunk() {
    std::uint64_t left = reply_.content_length - offset_;
    if (left == 0) return 0;
    if (chunk_.size() < kChunkBytes) chunk_.resize(kChunkBytes);
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk_.size()));
    ssize_t n;
    do {
      n = ::pread(reply_.file.get(), chunk_.data(), want, static_cast<off_t>(offset_));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      std::fprintf(stderr, "cutover edge: a blob ended or failed at byte %llu of %llu\n",
                   static_cast<unsigned long long>(offset_),
                   static_cast<unsigned long long>(reply_.content_length));
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
    asio::async_write(stream_, asio::buffer(chunk_.data(), n),
                      [self = shared_from_this()](error_code e, std::size_t) {
                        self->onChunkWritten(e);
                      });
  }

  void onWritten(error_code ec) {
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

  beast::tcp_stream stream_;
  Shared& shared_;
  Worker& worker_;
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
};

Result<tcp::endpoint> parseEndpoint(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return fail(Errc::invalid_argument, "listen address '" + host_port + "' needs host:port");
  }
  std::string host = host_port.substr(0, colon);
  std::string port_text = host_port.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  error_code ec;
  auto address = asio::ip::make_address(host, ec);
  char* end = nullptr;
  unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
  if (ec || port_text.empty() || *end != '\0' || port > 65535) {
    return fail(Errc::invalid_argument, "listen address '" + host_port + "' is not valid");
  }
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

}  // namespace

struct HttpServer::Impl {
  Impl(const Handler& handler, ServerOptions options) : shared{handler, options, {}, {}} {
    unsigned n = std::max(1U, options.threads);
    for (unsigned i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>());
    retry.emplace(workers.front()->ioc);
  }

  void accept() {
    Worker& target = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    acceptor->async_accept(target.ioc, [this, &target](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || shared.stopping.load()) return;
      if (ec) {
        // Out of descriptors, most likely: pause instead of spinning.
        std::fprintf(stderr, "cutover edge: accept failed: %s\n", ec.message().c_str());
        retry->expires_after(std::chrono::milliseconds(50));
        retry->async_wait([this](error_code e) {
          if (!e && !shared.stopping.load()) accept();
        });
        return;
      }
      if (shared.connections.load(std::memory_order_relaxed) >= shared.options.max_connections) {
        error_code ignored;
        socket.close(ignored);
      } else {
        auto session = std::make_shared<Session>(std::move(socket), shared, target);
        asio::post(target.ioc, [session] { session->start(); });
      }
      accept();
    });
  }

  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;  // workers[0] also runs the acceptor
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> retry;  // on workers[0]
  std::size_t next_worker = 0;
  bool running = false;
  bool stopped = false;
};

HttpServer::HttpServer(const Handler& handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(handler, options)) {}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

Result<std::uint16_t> HttpServer::listen(const std::string& host_port) {
  auto endpoint = parseEndpoint(host_port);
  if (!endpoint) return tl::unexpected(endpoint.error());
  tcp::acceptor acceptor(impl_->workers.front()->ioc);
  error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(Errc::io, "cannot listen on " + host_port + ": " + ec.message());
  auto port = acceptor.local_endpoint(ec).port();
  if (ec) return fail(Errc::io, "cannot listen on " + host_port + ": " + ec.message());
  impl_->acceptor.emplace(std::move(acceptor));
  return port;
}

void HttpServer::start() {
  assert(impl_->acceptor && !impl_->running);
  impl_->running = true;
  impl_->accept();
  for (auto& worker : impl_->workers) {
    // Without a work guard a loop would end between connections; it runs until stop().
    Worker* w = worker.get();
    w->thread = std::thread([w] {
      auto guard = asio::make_work_guard(w->ioc);
      w->ioc.run();
    });
  }
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  impl.shared.stopping.store(true);
  if (!impl.running) return;
  asio::post(impl.workers.front()->ioc, [&impl] {
    error_code ignored;
    impl.retry->cancel();
    impl.acceptor->close(ignored);
  });
  for (auto& worker : impl.workers) {
    Worker* w = worker.get();
    asio::post(w->ioc, [w] {
      // Copy: onStop() may end a session, which erases itself from the set.
      std::vector<Session*> sessions(w->sessions.begin(), w->sessions.end());
      for (Session* s : sessions) {
        if (w->sessions.contains(s)) s->onStop();
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl.shared.connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& worker : impl.workers) worker->ioc.stop();
  for (auto& worker : impl.workers) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

}  // namespace cutover::edge
