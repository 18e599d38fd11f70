#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/config/config.h"

namespace cutover {

class Workers;

// The deliveries a server has taken, remembered for a while so that a replayed one (the same
// delivery id, or the same signed body under another id) is answered "already received" and
// queues nothing. Bounded: the newest kKept deliveries, none older than kMaxAge. Thread-safe.
class WebhookDeliveries {
 public:
  static constexpr std::size_t kKept = 10'000;
  static constexpr std::chrono::hours kMaxAge{24};

  // Records the delivery; false if it was seen already (by id or by body).
  [[nodiscard]] bool firstTime(std::string_view site, std::string_view id, std::string_view body);

 private:
  struct Seen {
    std::string key;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex mutex_;
  std::set<std::string, std::less<>> keys_;
  std::deque<Seen> order_;
};

// A request's headers as received: names in any case.
using WebhookHeaders = std::vector<std::pair<std::string, std::string>>;

// What to do with a webhook delivery. The HTTP layer answers with `status` and `message`.
struct WebhookVerdict {
  int status = 400;       // 401 bad or missing signature, 400 malformed, 202 accepted or ignored
  bool accepted = false;  // a push to the site's branch: build it
  std::string message;    // says why, for the response body
  std::string provider;   // "github", "gitea", "gitlab" once recognised
  std::string branch;     // accepted: the branch pushed
  std::string after;      // accepted: the commit it now points to
  std::string pusher;     // accepted: who pushed (may be empty)
  std::string deploy_id;  // acceptWebhook: the deploy queued
  bool preview = false;   // accepted: a preview build (another branch, or a pull request)
  std::uint64_t pr = 0;   // a pull request's number
  std::string head_ref;   // a pull request's ref ("refs/pull/N/head")
  bool retire = false;    // a closed pull request or deleted branch: its alias goes
  std::string delivery;   // the provider's delivery id (X-GitHub-Delivery, X-Gitea-Delivery,
                          // X-Gitlab-Event-UUID or Idempotency-Key), if it sent one
};

// Checks one delivery for `site` without side effects:
//   GitHub  X-GitHub-Event: push|pull_request, X-Hub-Signature-256: sha256=<HMAC-SHA256, hex>
//   Gitea   X-Gitea-Event: push|pull_request,  X-Gitea-Signature: <HMAC-SHA256 of the body, hex>
//   GitLab  X-Gitlab-Event: Push Hook|Merge Request Hook, X-Gitlab-Token: <the secret>
// The signature is checked first, in constant time, against the site's secret (webhook_secret
// or $secret_env); a site without one accepts no webhook. Then: a push to the production branch
// builds it; to a branch previews.branches names, a preview; a pull request opened, given new
// commits or reopened, a preview of its head (not from a fork unless previews.forks); a closed
// pull request or a deleted preview branch retires its alias (`retire`). Another event, a tag or
// another branch → 202, ignored, the message says which; a body that is not the JSON → 400.
[[nodiscard]] WebhookVerdict verifyWebhook(const SiteConfig& site, const WebhookHeaders& headers,
                                           std::string_view body);

// verifyWebhook, and on accept queues a build of the pushed commit (trigger "webhook") and sets
// deploy_id; on `retire` removes the alias. If queueing fails the verdict becomes 503 with the
// reason. With `deliveries`, a correctly signed delivery seen before is answered 200 "already
// received" and queues nothing. (A replay under a new id that names an old commit is still
// harmless: the build deploys a pushed commit only if it is still the branch's head when the build
// starts.)
[[nodiscard]] WebhookVerdict acceptWebhook(Workers& workers, const SiteConfig& site,
                                           const WebhookHeaders& headers, std::string_view body,
                                           WebhookDeliveries* deliveries = nullptr);

}  // namespace cutover
