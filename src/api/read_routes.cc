// The API's routes that only read: health, sites, deploys, logs, tokens; and the webhook hand-off.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <set>
#include <thread>
#include <vector>

#include "api/reply.h"
#include "api/routes.h"
#include "cutover/common/fd.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pointer/aliases.h"
#include "cutover/pointer/records.h"

namespace cutover::api {

extern const std::string_view kOpenApiJson;  // docs/api/openapi.json, compiled in

void getHealth(ApiState& /*state*/, Call& call) { sendJson(call.out, 200, {{"status", "ok"}}); }

void getOpenApi(ApiState& /*state*/, Call& call) { call.out.send(200, kOpenApiJson); }

void getSites(ApiState& state, Call& call) {
  auto& objects = *state.context.objects;
  auto& pointers = *state.context.pointers;
  std::set<std::string> names;
  auto stored = objects.listSites();
  if (!stored) return sendError(call.out, stored.error());
  names.insert(stored->begin(), stored->end());
  for (auto prefix : {kLivePrefix, kSitePrefix}) {
    auto keys = pointers.list(std::string(prefix));
    if (!keys) return sendError(call.out, keys.error());
    for (const auto& [key, value] : *keys) names.insert(key.substr(prefix.size()));
  }
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& name : names) {
    if (!tokenAllows(*call.token, name)) continue;
    auto live = readLivePointer(pointers, name);
    if (!live) return sendError(call.out, live.error());
    nlohmann::json site{{"site", name}, {"url", state.siteUrl(name)}, {"live", nullptr}};
    if (*live) {
      site["live"] = {{"version", (*live)->version},
                      {"previous", (*live)->previous},
                      {"since", (*live)->since},
                      {"by", (*live)->deploy}};
    }
    SiteSettings settings;
    if (auto raw = pointers.get(siteKey(name)); raw && *raw) {
      if (auto parsed = SiteSettings::fromJson(**raw)) settings = *parsed;
    }
    site["hosts"] = settings.hosts;
    auto versions = objects.listVersions(name);
    site["versions"] = versions ? versions->size() : 0;
    sites.push_back(std::move(site));
  }
  sendJson(call.out, 200, {{"sites", sites}});
}

void getSiteDeploys(ApiState& state, Call& call) {
  std::size_t limit = 20;
  if (auto text = queryParam(call.request.query, "limit")) {
    char* end = nullptr;
    unsigned long n = std::strtoul(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || n == 0 || n > 1000) {
      return sendError(call.out, Errc::invalid_argument, "limit must be a number from 1 to 1000");
    }
    limit = n;
  }
  auto records = state.context.history->list(call.param("site"), limit);
  if (!records) return sendError(call.out, records.error());
  nlohmann::json deploys = nlohmann::json::array();
  for (const auto& r : *records) deploys.push_back(r.toJson());
  sendJson(call.out, 200, {{"deploys", deploys}});
}

void getPreviews(ApiState& state, Call& call) {
  const std::string& site = call.param("site");
  auto aliases = listAliases(*state.context.pointers, site);
  if (!aliases) return sendError(call.out, aliases.error());
  std::int64_t now = std::time(nullptr);
  nlohmann::json previews = nlohmann::json::array();
  for (const auto& [name, alias] : *aliases) {
    previews.push_back(previewJson(site, name, alias, now));
  }
  sendJson(call.out, 200, {{"previews", previews}});
}

void getDeploy(ApiState& state, Call& call) {
  auto record = state.context.history->find(call.param("deploy"));
  if (!record) return sendError(call.out, record.error());
  if (!*record)
    return sendError(call.out, Errc::not_found, "there is no deploy " + call.param("deploy"));
  sendJson(call.out, 200, (*record)->toJson());
}

namespace {

// Whether the deploy may still write to its log (queued or running).
bool stillRunning(ApiState& state, const std::string& id) {
  auto record = state.context.history->find(id);
  return record && *record && !(*record)->finishedOutcome();
}

// Sends what the file holds past `offset`; false once the client is gone.
bool sendFrom(int fd, std::uint64_t& offset, ResponseWriter& out) {
  std::vector<char> buffer(64 * 1024);
  while (true) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    offset += static_cast<std::uint64_t>(n);
    if (!out.writeChunk(std::string_view(buffer.data(), static_cast<std::size_t>(n)))) return false;
  }
}

}  // namespace

void getDeployLog(ApiState& state, Call& call) {
  const std::string& id = call.param("deploy");
  auto follow = queryParam(call.request.query, "follow");
  bool following = follow && *follow != "0" && *follow != "false";
  auto record = state.context.history->find(id);
  if (!record) return sendError(call.out, record.error());
  // Pipeline deploys name their log; the default place is <data>/logs/<deploy>.log.
  std::filesystem::path file = *record && !(*record)->log.empty()
                                   ? std::filesystem::path((*record)->log)
                                   : state.context.data_dir / "logs" / (id + ".log");
  constexpr auto kPoll = std::chrono::milliseconds(100);

  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() && !(following && stillRunning(state, id))) {
    return sendError(call.out, Errc::not_found, "deploy " + id + " has no log");
  }
  if (!call.out.beginStream(200, "text/plain; charset=utf-8")) return;
  std::uint64_t offset = 0;
  while (true) {
    // Asked before reading, so what a deploy wrote just before it finished is still sent.
    bool running = following && stillRunning(state, id);
    if (!fd.valid()) fd.reset(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid() && !sendFrom(fd.get(), offset, call.out)) return;
    if (!running) break;
    if (call.out.stopping()) return;
    std::this_thread::sleep_for(kPoll);
  }
  call.out.endStream();
}

void getTokens(ApiState& state, Call& call) {
  auto tokens = state.context.tokens->list();
  if (!tokens) return sendError(call.out, tokens.error());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : *tokens) {
    out.push_back(toJson(t));
  }
  sendJson(call.out, 200, {{"tokens", out}});
}

void postWebhook(ApiState& state, Call& call) {
  if (!state.options.webhook) {
    return sendError(call.out, Errc::not_found, "no webhook is configured on this server");
  }
  auto body = readBody(call.request, call.body, state.options.max_json_bytes);
  if (!body) return sendError(call.out, body.error());
  auto reply = state.options.webhook(call.param("site"), call.request.headers, *body);
  call.out.send(reply.status, reply.json);
}

}  // namespace cutover::api
