#include "runs/webhook.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cutover/common/ascii.h"
#include "cutover/common/utf8.h"
#include "cutover/pointer/aliases.h"
#include "runs/workers.h"

namespace cutover {
namespace {

std::optional<std::string> header(const WebhookHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (equalsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

WebhookVerdict verdict(int status, std::string message, std::string provider = {}) {
  WebhookVerdict v;
  v.status = status;
  v.message = std::move(message);
  v.provider = std::move(provider);
  return v;
}

std::optional<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// True if `given_hex` is the HMAC-SHA256 of `body` under `secret`, compared in constant time.
bool hmacMatches(const std::string& secret, std::string_view body, std::string_view given_hex) {
  auto given = fromHex(given_hex);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!given || HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                     reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
                     &mac_len) == nullptr) {
    return false;
  }
  return given->size() == mac_len && CRYPTO_memcmp(given->data(), mac, mac_len) == 0;
}

bool tokenMatches(const std::string& secret, const std::string& given) {
  return given.size() == secret.size() &&
         CRYPTO_memcmp(given.data(), secret.data(), secret.size()) == 0;
}

std::string stringAt(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &j;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return {};
    at = &(*at)[key];
  }
  return at->is_string() ? at->get<std::string>() : std::string();
}

constexpr std::size_t kMaxDeliveryIdBytes = 128;

// Delivery ids are the sender's text: kept only as printable ASCII, clipped.
std::string printableAscii(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) {
    if (c > ' ' && c < 127) out.push_back(c);
  }
  return out;
}

WebhookVerdict signedVerdict(const SiteConfig& site, const std::string& event,
                             const std::string& provider, std::string_view body);

}  // namespace

bool WebhookDeliveries::firstTime(std::string_view site, std::string_view id,
                                  std::string_view body) {
  // The body's digest catches a replay under another id: no two pushes have the same payload.
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(body.data(), body.size(), digest, &digest_len, EVP_sha256(), nullptr);
  std::string by_body = fmt::format("{}\nbody\n{}", site,
                                    std::string_view(reinterpret_cast<char*>(digest), digest_len));
  std::string by_id = id.empty() ? std::string() : fmt::format("{}\nid\n{}", site, id);
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  while (!order_.empty() && (order_.size() > kKept || now - order_.front().at > kMaxAge)) {
    keys_.erase(order_.front().key);
    order_.pop_front();
  }
  if (keys_.contains(by_body) || (!by_id.empty() && keys_.contains(by_id))) return false;
  for (auto* key : {&by_body, &by_id}) {
    if (key->empty()) continue;
    keys_.insert(*key);
    order_.push_back({std::move(*key), now});
  }
  return true;
}

WebhookVerdict verifyWebhook(const SiteConfig& site, const WebhookHeaders& headers,
                             std::string_view body) {
  std::string provider, event;
  std::optional<std::string> delivery;
  bool signed_ok = false;
  std::string secret = site.resolveWebhookSecret();
  // Gitea also sends GitHub's headers, so it is recognised first.
  if (auto e = header(headers, "X-Gitea-Event")) {
    provider = "gitea";
    event = *e;
    delivery = header(headers, "X-Gitea-Delivery");
    auto sig = header(headers, "X-Gitea-Signature");
    if (!sig || sig->empty()) return verdict(401, "missing X-Gitea-Signature", provider);
    signed_ok = !secret.empty() && hmacMatches(secret, body, *sig);
  } else if (auto g = header(headers, "X-GitHub-Event")) {
    provider = "github";
    event = *g;
    delivery = header(headers, "X-GitHub-Delivery");
    auto sig = header(headers, "X-Hub-Signature-256");
    if (!sig || !sig->starts_with("sha256=")) {
      return verdict(401, "missing X-Hub-Signature-256 (set a secret on the GitHub webhook)",
                     provider);
    }
    signed_ok = !secret.empty() && hmacMatches(secret, body, std::string_view(*sig).substr(7));
  } else if (auto l = header(headers, "X-Gitlab-Event")) {
    provider = "gitlab";
    event = *l;
    delivery = header(headers, "X-Gitlab-Event-UUID");
    if (!delivery) delivery = header(headers, "Idempotency-Key");
    auto token = header(headers, "X-Gitlab-Token");
    if (!token || token->empty()) return verdict(401, "missing X-Gitlab-Token", provider);
    signed_ok = !secret.empty() && tokenMatches(secret, *token);
  } else {
    return verdict(400,
                   "not a push webhook from GitHub, Gitea or GitLab (no X-GitHub-Event, "
                   "X-Gitea-Event or X-Gitlab-Event header)");
  }
  if (secret.empty()) {
    return verdict(
        401,
        fmt::format("site {} has no webhook secret (set webhook_secret or secret_env)", site.name),
        provider);
  }
  if (!signed_ok) return verdict(401, "bad webhook signature", provider);
  WebhookVerdict v = signedVerdict(site, event, provider, body);
  if (delivery) v.delivery = printableAscii(*delivery, kMaxDeliveryIdBytes);
  return v;
}

namespace {

bool isCommitSha(std::string_view id) {
  if (id.size() != 40 && id.size() != 64) return false;
  return id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::uint64_t numberAt(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &j;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return 0;
    at = &(*at)[key];
  }
  if (!at->is_number_unsigned()) return 0;
  auto n = at->get<std::uint64_t>();
  return n < 1'000'000'000 ? n : 0;  // a pull request number, not anything larger
}

// A pull or merge request: opened, new commits or reopened → build its head as a preview at
// pr-<N>--<site>; closed or merged → retire that alias; anything else → ignored.
WebhookVerdict pullRequestVerdict(const SiteConfig& site, const std::string& provider,
                                  const nlohmann::json& json) {
  bool gitlab = provider == "gitlab";
  std::uint64_t number =
      gitlab ? numberAt(json, {"object_attributes", "iid"}) : numberAt(json, {"number"});
  if (number == 0 && !gitlab) number = numberAt(json, {"pull_request", "number"});
  std::string action =
      gitlab ? stringAt(json, {"object_attributes", "action"}) : stringAt(json, {"action"});
  std::string head = gitlab ? stringAt(json, {"object_attributes", "last_commit", "id"})
                            : stringAt(json, {"pull_request", "head", "sha"});
  std::string branch = gitlab ? stringAt(json, {"object_attributes", "source_branch"})
                              : stringAt(json, {"pull_request", "head", "ref"});
  if (number == 0 || action.empty()) {
    return verdict(400, "the pull request payload has no number or action", provider);
  }
  std::string what = fmt::format("pull request {}", number);
  if (!site.previews.pull_requests) {
    return verdict(202,
                   fmt::format("ignored: site {} does not build pull requests (previews."
                               "pull_requests = false)",
                               site.name),
                   provider);
  }
  WebhookVerdict v = verdict(202, "", provider);
  v.pr = number;
  v.branch = branch;
  v.head_ref = gitlab ? fmt::format("refs/merge-requests/{}/head", number)
                      : fmt::format("refs/pull/{}/head", number);
  bool closed = action == "closed" || action == "close" || action == "merge";
  if (closed) {
    v.retire = true;
    v.message =
        fmt::format("{} {}: its preview is retired", what, action == "merge" ? "merged" : "closed");
    return v;
  }
  bool builds = action == "opened" || action == "synchronize" || action == "synchronized" ||
                action == "reopened" || action == "open" || action == "reopen" ||
                (action == "update" && json.contains("object_attributes") &&
                 json["object_attributes"].contains("oldrev"));
  if (!builds) {
    v.message = fmt::format("ignored: {} {} (no new commits)", what,
                            escapeInvalidUtf8(clipUtf8(action, 100)));
    return v;
  }
  bool fork = gitlab ? numberAt(json, {"object_attributes", "source_project_id"}) !=
                           numberAt(json, {"object_attributes", "target_project_id"})
                     : stringAt(json, {"pull_request", "head", "repo", "full_name"}) !=
                           stringAt(json, {"pull_request", "base", "repo", "full_name"});
  if (fork && !site.previews.forks) {
    v.message = fmt::format(
        "ignored: {} comes from a fork, whose code would build with site {}'s variables "
        "(previews.forks = true builds it)",
        what, site.name);
    return v;
  }
  if (!isCommitSha(head)) {
    return verdict(400,
                   fmt::format("the pull request's head '{}' is not a commit id",
                               escapeInvalidUtf8(clipUtf8(head, 100))),
                   provider);
  }
  v.accepted = true;
  v.preview = true;
  v.after = head;
  v.message = fmt::format("accepted: {} {}", what, head.substr(0, 7));
  v.pusher = gitlab ? stringAt(json, {"user", "username"}) : stringAt(json, {"sender", "login"});
  return v;
}

WebhookVerdict signedVerdict(const SiteConfig& site, const std::string& event,
                             const std::string& provider, std::string_view body) {
  bool is_push = provider == "gitlab" ? event == "Push Hook" : event == "push";
  bool is_pull = provider == "gitlab" ? event == "Merge Request Hook" : event == "pull_request";
  if (!is_push && !is_pull) {
    return verdict(202,
                   fmt::format("ignored: event '{}' is not a push or a pull request",
                               escapeInvalidUtf8(clipUtf8(event, 100))),  // a header: any bytes
                   provider);
  }

  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return verdict(400, "the webhook body is not JSON", provider);
  }
  if (is_pull) return pullRequestVerdict(site, provider, json);
  std::string ref = stringAt(json, {"ref"});
  std::string after = stringAt(json, {"after"});
  if (ref.empty() || after.empty()) {
    return verdict(400, "the push payload has no ref or after", provider);
  }
  if (!ref.starts_with("refs/heads/")) {
    return verdict(202, fmt::format("ignored: {} is not a branch", ref), provider);
  }
  std::string branch = ref.substr(11);
  bool preview = branch != site.branch;
  if (preview && !site.previews.buildsBranch(branch)) {
    return verdict(202,
                   fmt::format("ignored: push to branch {}; site {} deploys {} (and builds no "
                               "previews of it: see previews.branches)",
                               branch, site.name, site.branch),
                   provider);
  }
  if (after.find_first_not_of('0') == std::string::npos) {
    WebhookVerdict v =
        verdict(202, fmt::format("ignored: branch {} was deleted", branch), provider);
    if (preview) {
      v.retire = true;
      v.branch = branch;
      v.message = fmt::format("branch {} was deleted: its preview is retired", branch);
    }
    return v;
  }
  if (!isCommitSha(after)) {
    return verdict(400, fmt::format("'{}' is not a commit id", after), provider);
  }
  WebhookVerdict v =
      verdict(202, fmt::format("accepted: {} {}", branch, after.substr(0, 7)), provider);
  v.accepted = true;
  v.preview = preview;
  v.branch = branch;
  v.after = after;
  if (provider == "github") {
    v.pusher = stringAt(json, {"pusher", "name"});
  } else if (provider == "gitea") {
    v.pusher = stringAt(json, {"pusher", "login"});
    if (v.pusher.empty()) v.pusher = stringAt(json, {"pusher", "username"});
  } else {
    v.pusher = stringAt(json, {"user_username"});
    if (v.pusher.empty()) v.pusher = stringAt(json, {"user_name"});
  }
  return v;
}

// Removes the alias of a closed pull request or a deleted branch: its host stops answering and
// its versions become collectable.
WebhookVerdict retirePreview(PointerStore& pointers, const SiteConfig& site, WebhookVerdict v) {
  auto aliases = listAliases(pointers, site.name);
  if (!aliases) {
    v.status = 503;
    v.message = "could not retire the preview: " + aliases.error().message;
    return v;
  }
  std::vector<std::string> retired;
  for (const auto& [name, alias] : *aliases) {
    bool match = v.pr != 0 ? alias.pr == v.pr : alias.pr == 0 && alias.branch == v.branch;
    if (!match) continue;
    auto gone = removeAlias(pointers, site.name, name);
    if (!gone && gone.error().code != Errc::not_found) {
      v.status = 503;
      v.message = "could not retire the preview: " + gone.error().message;
      return v;
    }
    retired.push_back(name + "--" + site.name);
  }
  if (retired.empty()) {
    v.message += " (it had none)";
  } else {
    v.message += fmt::format(" ({})", fmt::join(retired, ", "));
  }
  return v;
}

}  // namespace

WebhookVerdict acceptWebhook(Workers& workers, const SiteConfig& site,
                             const WebhookHeaders& headers, std::string_view body,
                             WebhookDeliveries* deliveries) {
  auto v = verifyWebhook(site, headers, body);
  // Only a correctly signed delivery is remembered: unsigned junk cannot crowd out real ones.
  bool signed_ok = v.status < 400;
  if (signed_ok && deliveries != nullptr && !deliveries->firstTime(site.name, v.delivery, body)) {
    v.accepted = false;
    v.status = 200;
    v.message = v.delivery.empty() ? "already received: this delivery was taken before"
                                   : fmt::format("already received: delivery {}", v.delivery);
    return v;
  }
  if (v.retire) return retirePreview(workers.pointers(), site, std::move(v));
  if (!v.accepted) return v;
  DeployRequest request{site.name, "webhook", v.after, v.branch};
  request.preview = v.preview;
  request.pr = v.pr;
  request.head_ref = v.head_ref;
  auto id = workers.submit(request);
  if (!id) {
    v.accepted = false;
    v.status = 503;
    v.message = "could not queue the build: " + id.error().message;
    return v;
  }
  v.deploy_id = *id;
  if (v.pr != 0) {
    v.message = fmt::format("accepted: preview deploy {} of pull request {} ({}) queued", *id, v.pr,
                            v.after.substr(0, 7));
    return v;
  }
  v.message = fmt::format("accepted: {}deploy {} of {} {} queued", v.preview ? "preview " : "", *id,
                          v.branch, v.after.substr(0, 7));
  if (v.preview) return v;
  if (auto lock = workers.deployLock(site.name)) {
    v.message += fmt::format(
        "; deploys of {} are locked ({}): it will be stored, not made live, until `cutover "
        "unlock {}`",
        site.name, lock->reason, site.name);
  }
  return v;
}

}  // namespace cutover
