#include "cutover/api/api_server.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <string_view>
#include <thread>

#include "api/http.h"
#include "api/reply.h"
#include "api/routes.h"
#include "common/log.h"
#include "cutover/common/guard.h"
#include "cutover/common/hash.h"
#include "cutover/common/names.h"
#include "cutover/store/manifest.h"

namespace cutover {

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

namespace api {
namespace {

std::int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void PendingDeploys::add(PendingPtr deploy) {
  deploy->last_used_ms = steadyMs();
  std::lock_guard lock(mutex_);
  deploys_[deploy->record().id] = std::move(deploy);
}

std::optional<Crowded> PendingDeploys::crowdedLocked(const std::string& site,
                                                     const PendingLimits& limits) const {
  std::vector<std::string> same_site;
  for (const auto& [id, deploy] : deploys_) {
    if (deploy->record().site == site) same_site.push_back(id);
  }
  auto minutes = std::to_string(std::max<std::int64_t>(1, limits.timeout.count() / 60'000));
  if (same_site.size() >= limits.per_site) {
    std::string ids;
    for (const auto& id : same_site) ids += (ids.empty() ? "" : ", ") + id;
    return Crowded{429, "too_many_requests",
                   fmt::format("site {} has {} remote deploys pending (the limit is {}): {}; "
                               "finalize them, or they are dropped {} min after their last request",
                               site, same_site.size(), limits.per_site, ids, minutes)};
  }
  if (deploys_.size() >= limits.total) {
    return Crowded{503, "unavailable",
                   fmt::format("the server has {} remote deploys pending (the limit is {}); try "
                               "again when one is finalized or dropped ({} min after its last "
                               "request)",
                               deploys_.size(), limits.total, minutes)};
  }
  return std::nullopt;
}

std::optional<Crowded> PendingDeploys::crowded(const std::string& site,
                                               const PendingLimits& limits) {
  std::lock_guard lock(mutex_);
  return crowdedLocked(site, limits);
}

std::optional<Crowded> PendingDeploys::tryAdd(PendingPtr deploy, const PendingLimits& limits) {
  deploy->last_used_ms = steadyMs();
  std::lock_guard lock(mutex_);
  if (auto full = crowdedLocked(deploy->record().site, limits)) return full;
  deploys_[deploy->record().id] = std::move(deploy);
  return std::nullopt;
}

PendingPtr PendingDeploys::find(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = deploys_.find(id);
  if (it == deploys_.end()) return nullptr;
  it->second->last_used_ms = steadyMs();
  return it->second;
}

PendingPtr PendingDeploys::take(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = deploys_.find(id);
  if (it == deploys_.end()) return nullptr;
  auto out = std::move(it->second);
  deploys_.erase(it);
  return out;
}

std::vector<PendingPtr> PendingDeploys::takeExpired(std::chrono::milliseconds timeout) {
  std::vector<PendingPtr> out;
  auto limit = steadyMs() - timeout.count();
  std::lock_guard lock(mutex_);
  for (auto it = deploys_.begin(); it != deploys_.end();) {
    if (it->second->last_used_ms < limit) {
      out.push_back(std::move(it->second));
      it = deploys_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<PendingPtr> PendingDeploys::takeAll() {
  std::lock_guard lock(mutex_);
  std::vector<PendingPtr> out;
  for (auto& [id, deploy] : deploys_) out.push_back(std::move(deploy));
  deploys_.clear();
  return out;
}

std::string ApiState::siteUrl(const std::string& site) const {
  std::string url = options.site_url;
  for (auto at = url.find("{site}"); at != std::string::npos; at = url.find("{site}", at)) {
    url.replace(at, 6, site);
    at += site.size();
  }
  return url;
}

void ApiState::abandon(PendingDeploy& deploy, const std::string& why) const {
  if (auto saved = deploy.upload->abandon(context.history, why); !saved) {
    log::error("cutover api: recording deploy {}: {}", deploy.record().id, saved.error().message);
  }
}

bool tokenAllows(const TokenInfo& token, const std::string& site) {
  return token.scope == TokenScope::admin || token.site == site;
}

namespace {

// Who may call a route.
enum class Access {
  open,     // anyone (health; webhooks verify their own signatures)
  token,    // any valid token (the route shows each token only its own sites)
  site,     // a token for the {site} of the path
  deploy,   // a token for the site of the {deploy} of the path
  release,  // a release (or admin) token for the {site} of the path: what is live
  admin,    // an admin token
};

using RouteFn = void (*)(ApiState&, Call&);

struct Route {
  std::string_view method;
  std::string_view pattern;  // "{name}" segments capture
  Access access;
  RouteFn run;
};

// The whole API, in one table.
constexpr Route kRoutes[] = {
    {"GET", "/api/health", Access::open, getHealth},
    {"GET", "/api/openapi.json", Access::open, getOpenApi},
    {"GET", "/api/sites", Access::token, getSites},
    {"GET", "/api/sites/{site}/deploys", Access::site, getSiteDeploys},
    {"POST", "/api/sites/{site}/deploys", Access::site, postRemoteDeploy},
    {"POST", "/api/sites/{site}/activate", Access::release, postActivate},
    {"POST", "/api/sites/{site}/rollback", Access::release, postRollback},
    // A deploy token may lock its site (a safe stop); lifting it is a release decision.
    {"POST", "/api/sites/{site}/lock", Access::site, postLock},
    {"POST", "/api/sites/{site}/unlock", Access::release, postUnlock},
    {"POST", "/api/sites/{site}/archive", Access::site, postArchive},
    {"GET", "/api/sites/{site}/previews", Access::site, getPreviews},
    {"DELETE", "/api/sites/{site}/previews/{alias}", Access::release, deletePreview},
    {"POST", "/api/sites/{site}/promote", Access::release, postPromote},
    {"POST", "/api/sites/{site}/schedule", Access::release, postSchedule},
    {"DELETE", "/api/sites/{site}/schedule", Access::release, deleteSchedule},
    {"GET", "/api/deploys/{deploy}", Access::deploy, getDeploy},
    {"GET", "/api/deploys/{deploy}/log", Access::deploy, getDeployLog},
    {"PUT", "/api/deploys/{deploy}/blobs/{hash}", Access::deploy, putBlob},
    {"POST", "/api/deploys/{deploy}/finalize", Access::deploy, postFinalize},
    {"GET", "/api/tokens", Access::admin, getTokens},
    {"POST", "/hooks/{site}", Access::open, postWebhook},
};

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool match(std::string_view pattern, const std::vector<std::string_view>& segments,
           std::map<std::string, std::string>& params) {
  auto parts = split(pattern);
  if (parts.size() != segments.size()) return false;
  std::map<std::string, std::string> found;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].size() > 2 && parts[i].front() == '{') {
      if (segments[i].empty()) return false;
      found.emplace(std::string(parts[i].substr(1, parts[i].size() - 2)), std::string(segments[i]));
    } else if (parts[i] != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

// Deploy ids share the version-id alphabet ("d-20261127-195529-3f9a1c").
bool plausibleDeployId(std::string_view id) {
  return !id.empty() && id.size() <= 100 && validateVersionId(id).has_value();
}

class Router {
 public:
  explicit Router(ApiState& state) : state_(state) {}

  void handle(const HttpRequest& request, BodyReader& body, ResponseWriter& out) {
    auto segments = split(request.path);
    std::map<std::string, std::string> params;
    const Route* route = nullptr;
    std::string allowed;
    for (const auto& r : kRoutes) {
      std::map<std::string, std::string> p;
      if (!match(r.pattern, segments, p)) continue;
      if (r.method == request.method) {
        route = &r;
        params = std::move(p);
        break;
      }
      allowed += allowed.empty() ? std::string(r.method) : ", " + std::string(r.method);
    }
    if (route == nullptr) {
      if (!allowed.empty()) {
        return sendError(
            out, 405, "method_not_allowed",
            request.method + " is not allowed on " + request.path + " (allowed: " + allowed + ")",
            nlohmann::json::object(), {{"Allow", allowed}});
      }
      return sendError(out, Errc::not_found, "no API route " + request.path);
    }
    Call call{request, body, out, std::nullopt, std::move(params)};
    if (!checkParams(call) || !authorize(*route, call)) return;
    route->run(state_, call);
  }

 private:
  bool checkParams(Call& call) {
    if (auto it = call.params.find("site"); it != call.params.end()) {
      if (auto ok = validateSiteName(it->second); !ok) {
        sendError(call.out, ok.error());
        return false;
      }
    }
    if (auto it = call.params.find("alias"); it != call.params.end()) {
      if (!validateVersionId(it->second)) {
        sendError(call.out, Errc::not_found, "there is no preview alias '" + it->second + "'");
        return false;
      }
    }
    if (auto it = call.params.find("deploy"); it != call.params.end()) {
      if (!plausibleDeployId(it->second)) {
        sendError(call.out, Errc::not_found, "there is no deploy " + it->second);
        return false;
      }
    }
    if (auto it = call.params.find("hash"); it != call.params.end()) {
      if (!isBlobHash(it->second)) {
        sendError(call.out, Errc::invalid_argument,
                  "'" + it->second + "' is not a blob hash (64 lowercase hex characters)");
        return false;
      }
    }
    return true;
  }

  // Nothing is read or changed before this passes: a refused request changes nothing.
  bool authorize(const Route& route, Call& call) {
    if (route.access == Access::open) return true;
    auto header = call.request.headers.find("authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header == call.request.headers.end() || header->second.size() <= kBearer.size() ||
        !std::equal(kBearer.begin(), kBearer.end(), header->second.begin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      unauthorized(call,
                   "this route needs a token: send Authorization: Bearer <token> "
                   "(cutover token create makes one)");
      return false;
    }
    auto token =
        state_.context.tokens->verify(std::string_view(header->second).substr(kBearer.size()));
    if (!token) {
      sendError(call.out, token.error());
      return false;
    }
    if (!*token) {
      unauthorized(call, "the token is not valid (unknown or revoked)");
      return false;
    }
    call.token = **token;
    std::string site;
    switch (route.access) {
      case Access::open:
      case Access::token:
        return true;
      case Access::admin:
        if (call.token->scope == TokenScope::admin) return true;
        forbidden(call, "this route needs an admin token; token " + call.token->id + " has scope " +
                            std::string(scopeName(call.token->scope)));
        return false;
      case Access::release:
        site = call.param("site");
        if (call.token->scope == TokenScope::deploy && call.token->site == site) {
          forbidden(call, "choosing what is live on " + site +
                              " needs a release token (cutover token create --site " + site +
                              " --scope release); token " + call.token->id + " may deploy only");
          return false;
        }
        break;
      case Access::site:
        site = call.param("site");
        break;
      case Access::deploy: {
        auto owner = deploySite(call.param("deploy"));
        if (!owner) {
          sendError(call.out, owner.error());
          return false;
        }
        site = *owner;
        break;
      }
    }
    if (tokenAllows(*call.token, site)) return true;
    forbidden(call, "token " + call.token->id + " is for site " + call.token->site +
                        ", not for site " + site);
    return false;
  }

  Result<std::string> deploySite(const std::string& id) {
    if (auto pending = state_.pending.find(id)) return pending->record().site;
    auto record = state_.context.history->find(id);
    if (!record) return tl::unexpected(record.error());
    if (!*record) return fail(Errc::not_found, "there is no deploy " + id);
    return (*record)->site;
  }

  static void unauthorized(Call& call, const std::string& message) {
    sendError(call.out, 401, "unauthorized", message, nlohmann::json::object(),
              {{"WWW-Authenticate", "Bearer"}});
  }
  static void forbidden(Call& call, const std::string& message) {
    sendError(call.out, 403, "forbidden", message);
  }

  ApiState& state_;
};

class HttpApiServer final : public ApiServer {
 public:
  HttpApiServer(ApiContext context, ApiOptions options)
      : state_{std::move(context), std::move(options), {}},
        router_(state_),
        http_(makeHttpListener([this](const HttpRequest& request, BodyReader& body,
                                      ResponseWriter& out) { dispatch(request, body, out); },
                               listenerOptions(state_.options))) {}

  ~HttpApiServer() override { stop(); }

  Result<void> start() override {
    if (!state_.context.history || !state_.context.tokens || !state_.context.objects ||
        !state_.context.pointers) {
      return fail(Errc::invalid_argument, "the API needs the stores, the history and the tokens");
    }
    auto port = http_->listen(state_.options.listen);
    if (!port) return tl::unexpected(port.error());
    port_ = *port;
    http_->start();
    janitor_ = std::thread([this] { sweep(); });
    const auto& listen = state_.options.listen;
    std::string host = listen.substr(0, listen.rfind(':'));
    log::info("api on http://{}:{}", host, port_);
    return {};
  }

  std::uint16_t port() const override { return port_; }

  void stop() override {
    http_->stop(state_.options.stop_grace);
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (janitor_.joinable()) janitor_.join();
    for (auto& deploy : state_.pending.takeAll()) {
      state_.abandon(*deploy, "interrupted: the API stopped before the deploy was finalized");
    }
  }

 private:
  static ListenerOptions listenerOptions(const ApiOptions& o) {
    ConnectionLimits limits{o.max_header_bytes, o.max_connections, o.max_connections_per_client,
                            o.header_timeout,   o.idle_timeout,    o.write_timeout};
    return ListenerOptions{limits, o.read_timeout};
  }

  // Every request's thread entry: an exception a route lets escape fails that request alone.
  void dispatch(const HttpRequest& request, BodyReader& body, ResponseWriter& out) {
    auto handled = guarded("the API's " + request.method + " " + request.path,
                           [&] { router_.handle(request, body, out); });
    if (!handled) {
      // Ignored by the writer if the route had begun its answer; the connection then closes.
      sendError(out, 500, "internal",
                "an unexpected error ended this request; the server's log has the details");
    }
  }

  // Records remote deploys nobody finalized as failed; their blobs are garbage for gc.
  void sweep() {
    auto timeout = state_.options.remote_deploy_timeout;
    auto period =
        std::clamp(timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, period);
      (void)guarded("the API's sweep of abandoned deploys", [&] {
        for (auto& deploy : state_.pending.takeExpired(timeout)) {
          state_.abandon(*deploy, "abandoned: not finalized within " +
                                      std::to_string(timeout.count() / 1000) +
                                      " s of its last request");
        }
      });
    }
  }

  ApiState state_;
  Router router_;
  std::unique_ptr<HttpServerBase> http_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread janitor_;
};

}  // namespace
}  // namespace api

std::vector<ApiRoute> apiRoutes() {
  std::vector<ApiRoute> out;
  for (const auto& route : api::kRoutes) out.push_back({route.method, route.pattern});
  return out;
}

std::unique_ptr<ApiServer> makeApiServer(ApiContext context, ApiOptions options) {
  return std::make_unique<api::HttpApiServer>(std::move(context), std::move(options));
}

}  // namespace cutover
