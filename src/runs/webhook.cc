#include "runs/webhook.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cutover/common/ascii.h"
#include "cutover/common/utf8.h"
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

WebhookVerdict signedVerdict(const SiteConfig& site, const std::string& event,
                             const std::string& provider, std::string_view body) {
  bool is_push = provider == "gitlab" ? event == "Push Hook" : event == "push";
  if (!is_push)
    return verdict(202,
                   fmt::format("ignored: event '{}' is not a push",
                               escapeInvalidUtf8(clipUtf8(event, 100))),  // a header: any bytes
                   provider);

  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return verdict(400, "the webhook body is not JSON", provider);
  }
  std::string ref = stringAt(json, {"ref"});
  std::string after = stringAt(json, {"after"});
  if (ref.empty() || after.empty()) {
    return verdict(400, "the push payload has no ref or after", provider);
  }
  if (!ref.starts_with("refs/heads/")) {
    return verdict(202, fmt::format("ignored: {} is not a branch", ref), provider);
  }
  std::string branch = ref.substr(11);
  if (branch != site.branch) {
    return verdict(202,
                   fmt::format("ignored: push to branch {}; site {} deploys {}", branch, site.name,
                               site.branch),
                   provider);
  }
  if (after.find_first_not_of('0') == std::string::npos) {
    return verdict(202, fmt::format("ignored: branch {} was deleted", branch), provider);
  }
  if (after.size() != 40 && after.size() != 64) {
    return verdict(400, fmt::format("'{}' is not a commit id", after), provider);
  }
  for (char c : after) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return verdict(400, fmt::format("'{}' is not a commit id", after), provider);
    }
  }
  WebhookVerdict v =
      verdict(202, fmt::format("accepted: {} {}", branch, after.substr(0, 7)), provider);
  v.accepted = true;
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
  if (!v.accepted) return v;
  DeployRequest request{site.name, "webhook", v.after, v.branch};
  auto id = workers.submit(request);
  if (!id) {
    v.accepted = false;
    v.status = 503;
    v.message = "could not queue the build: " + id.error().message;
    return v;
  }
  v.deploy_id = *id;
  v.message =
      fmt::format("accepted: deploy {} of {} {} queued", *id, v.branch, v.after.substr(0, 7));
  if (auto lock = workers.deployLock(site.name)) {
    v.message += fmt::format(
        "; deploys of {} are locked ({}): it will be stored, not made live, until `cutover "
        "unlock {}`",
        site.name, lock->reason, site.name);
  }
  return v;
}

}  // namespace cutover
