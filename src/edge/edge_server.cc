#include "cutover/edge/edge_server.h"

#include <algorithm>
#include <thread>

#include "common/log.h"
#include "edge/file_cache.h"
#include "edge/handler.h"
#include "edge/http_server.h"
#include "edge/routing_state.h"

namespace cutover {
namespace {

// Wires the edge's parts: the routing state the store's watch keeps current, the handler that
// answers from it, and the HTTP server in front.
class BeastEdgeServer final : public EdgeServer {
 public:
  BeastEdgeServer(ObjectStorePtr objects, PointerStorePtr pointers, EdgeOptions options)
      : options_(std::move(options)),
        objects_(std::move(objects)),
        routes_(objects_, std::move(pointers), options_.preview_domain),
        cache_(options_.memory_cache_bytes),
        handler_(routes_, *objects_, cache_,
                 edge::HandlerOptions{options_.version_header, options_.memory_cache_max_file,
                                      options_.preview_domain, options_.pin_window_seconds}) {}

  ~BeastEdgeServer() override { stop(); }

  Result<void> start() override {
    if (!options_.access_log.empty()) {
      auto format = edge::parseAccessLogFormat(options_.access_log_format);
      if (!format) {
        return fail(Errc::invalid_argument, "access log format '" + options_.access_log_format +
                                                "' is not one of: vhost, combined");
      }
      auto log = edge::AccessLogFile::open(options_.access_log, *format);
      if (!log) return tl::unexpected(log.error());
      access_log_ = std::move(*log);
    }
    http_ = edge::makeHttpServer(handler_, serverOptions(options_, access_log_.get()));
    auto port = http_->listen(options_.listen);
    if (!port) return tl::unexpected(port.error());
    port_ = *port;
    if (auto watching = routes_.start(); !watching) return watching;
    http_->start();
    std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
    log::info("serving on http://{}:{}", host, port_);
    return {};
  }

  std::uint16_t port() const override { return port_; }

  void stop() override {
    if (http_) http_->stop(options_.stop_grace);
    routes_.stop();
  }

 private:
  static edge::ServerOptions serverOptions(const EdgeOptions& o, edge::AccessLogFile* log) {
    unsigned threads = o.threads != 0 ? o.threads : std::thread::hardware_concurrency();
    ConnectionLimits limits{o.max_header_bytes, o.max_connections, o.max_connections_per_client,
                            o.header_timeout,   o.idle_timeout,    o.write_timeout};
    return edge::ServerOptions{limits, std::max(1U, threads), log, o.sendfile};
  }

  EdgeOptions options_;
  ObjectStorePtr objects_;
  edge::RoutingState routes_;
  edge::FileCache cache_;
  edge::Handler handler_;
  std::unique_ptr<edge::AccessLogFile> access_log_;
  std::unique_ptr<HttpServerBase> http_;  // made by start(), once the access log is open
  std::uint16_t port_ = 0;
};

}  // namespace

std::unique_ptr<EdgeServer> makeEdgeServer(ObjectStorePtr objects, PointerStorePtr pointers,
                                           EdgeOptions options) {
  return std::make_unique<BeastEdgeServer>(std::move(objects), std::move(pointers),
                                           std::move(options));
}

}  // namespace cutover
