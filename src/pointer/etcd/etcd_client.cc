#include "pointer/etcd/etcd_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <thread>
#include <utility>

#include "common/backoff.h"
#include "common/curl.h"
#include "pointer/etcd/base64.h"

namespace cutover::etcd {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Keys per page of a range: at most 64 KiB values, so a page stays within tens of megabytes.
constexpr int kPageSize = 256;
// Idle connections kept for reuse; more calls at once than this open (and close) their own.
constexpr std::size_t kPoolSize = 8;
// A response larger than this is not from etcd's range of small values.
constexpr std::size_t kMaxResponse = 256 * 1024 * 1024;

struct Body {
  std::string text;
  bool too_large = false;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  if (body->text.size() + size * count > kMaxResponse) {
    body->too_large = true;
    return 0;
  }
  body->text.append(data, size * count);
  return size * count;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(user);
  return cancel != nullptr && cancel->load() ? 1 : 0;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// etcd errors that it returns before proposing anything: safe to send elsewhere, even a write.
bool refusedBeforeApplying(std::string_view message) {
  return contains(message, "no leader") || contains(message, "leader changed") ||
         contains(message, "not capable") || contains(message, "too many requests");
}

}  // namespace

curl_slist* gatewayHeaders() {
  static curl_slist* headers = [] {
    curl_slist* list = nullptr;
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Grpc-Metadata-hasleader: true");
    list = curl_slist_append(list, "Expect:");
    return list;
  }();
  return headers;
}

std::string prefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::int64_t int64Field(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return 0;
  auto it = object.find(name);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (!it->is_string()) return 0;
  const auto& text = it->get_ref<const std::string&>();
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::string stringField(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return {};
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool boolField(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return false;
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// How one attempt at one endpoint ended.
struct Client::Attempt {
  enum Outcome {
    ok,
    rejected,     // the member answered: the request itself is wrong; another would say the same
    not_sent,     // no connection: certainly not applied
    not_applied,  // the member refused it before proposing (no leader, leader changed)
    unknown,      // sent, then no answer: a write may or may not have been applied
    canceled,
  };
  Outcome outcome = unknown;
  nlohmann::json body;
  std::string error;
};

Client::Client(ClientOptions options) : options_(std::move(options)) { curlGlobalInit(); }

Client::~Client() {
  for (void* handle : pool_) curl_easy_cleanup(handle);
}

std::string Client::endpointList() const {
  std::string out;
  for (const auto& endpoint : options_.endpoints) {
    if (!out.empty()) out += ", ";
    out += endpoint;
  }
  return out;
}

void* Client::take() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!pool_.empty()) {
      void* handle = pool_.back();
      pool_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void Client::give(void* handle) {
  {
    std::lock_guard lock(pool_mutex_);
    if (pool_.size() < kPoolSize) {
      pool_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

void setUpPost(void* curl, const std::string& url, const std::string& body, WriteCallback write,
               void* data, milliseconds connect_timeout) {
  // A cluster is reached directly, never through a proxy from the environment.
  setUpEasy(curl, {.url = url.c_str(), .connect_timeout = connect_timeout, .direct = true});
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, gatewayHeaders());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, data);
}

Client::Attempt Client::attempt(std::size_t endpoint, std::string_view path,
                                const std::string& body, milliseconds timeout,
                                const std::atomic<bool>* cancel) {
  CURL* curl = take();
  if (curl == nullptr) return Attempt{Attempt::not_sent, {}, "cannot create a curl handle"};
  curl_easy_reset(curl);
  std::string url = "http://" + options_.endpoints[endpoint] + std::string(path);
  Body response;
  setUpPost(curl, url, body, onBody, &response, std::min(options_.connect_timeout, timeout));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, cancel);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_off_t connected_us = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected_us);
  give(curl);

  if (code == CURLE_ABORTED_BY_CALLBACK) return Attempt{Attempt::canceled, {}, "canceled"};
  if (response.too_large) {
    return Attempt{Attempt::rejected, {}, "answered with more than 256 MiB"};
  }
  if (code != CURLE_OK) {
    bool never_connected = code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
                           (code == CURLE_OPERATION_TIMEDOUT && connected_us == 0);
    return Attempt{
        never_connected ? Attempt::not_sent : Attempt::unknown, {}, curl_easy_strerror(code)};
  }
  auto json = nlohmann::json::parse(response.text, nullptr, false);
  if (status == 200) {
    if (json.is_discarded() || !json.is_object()) {
      return Attempt{Attempt::unknown, {}, "answered HTTP 200 with a body that is not JSON"};
    }
    return Attempt{Attempt::ok, std::move(json), {}};
  }
  // The gateway's errors: {"error": "...", "message": "...", "code": <gRPC code>}.
  std::string message = "HTTP " + std::to_string(status);
  if (auto text = stringField(json, "message"); !text.empty()) message += ": " + text;
  if (refusedBeforeApplying(message)) return Attempt{Attempt::not_applied, {}, message};
  // 5xx: the member could not finish (timed out waiting for its cluster, stopping). The gateway
  // answers 503 also when it cannot reach its own member.
  if (status >= 500) return Attempt{Attempt::unknown, {}, message};
  return Attempt{Attempt::rejected, {}, message};
}

Result<Reply> Client::call(std::string_view path, const nlohmann::json& request, Request kind,
                           const std::atomic<bool>* cancel) {
  const std::string body = request.dump();
  const std::size_t count = options_.endpoints.size();
  const auto deadline = Clock::now() + options_.call_timeout;
  std::map<std::size_t, std::string> errors;  // by endpoint, for the message
  std::string unknown_outcome;
  Backoff backoff(milliseconds(25), milliseconds(400), Backoff::Jitter::none);
  std::size_t start = preferred_.load();
  while (true) {
    bool some_answered = false;
    for (std::size_t i = 0; i < count; ++i) {
      auto remaining = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (remaining.count() <= 0) break;
      std::size_t endpoint = (start + i) % count;
      auto result =
          attempt(endpoint, path, body, std::min(options_.request_timeout, remaining), cancel);
      const std::string& where = options_.endpoints[endpoint];
      switch (result.outcome) {
        case Attempt::ok:
          preferred_ = endpoint;
          return Reply{std::move(result.body), std::move(unknown_outcome)};
        case Attempt::canceled:
          return fail(Errc::interrupted, "etcd request to " + where + " canceled");
        case Attempt::rejected:
          return fail(Errc::io,
                      "etcd at " + where + " refused " + std::string(path) + ": " + result.error);
        case Attempt::unknown:
          if (kind == Request::write && unknown_outcome.empty()) {
            unknown_outcome = where + ": " + result.error;
          }
          some_answered = true;
          break;
        case Attempt::not_applied:
          some_answered = true;
          break;
        case Attempt::not_sent:
          break;
      }
      errors[endpoint] = result.error;
    }
    // Not one member took a connection: the cluster is down (or not where we look). Say so now
    // rather than after call_timeout, so callers can keep serving what they have.
    auto wait = backoff.next();
    if (!some_answered || Clock::now() + wait >= deadline) break;
    for (auto slept = milliseconds(0); slept < wait; slept += milliseconds(5)) {
      if (cancel != nullptr && cancel->load()) {
        return fail(Errc::interrupted, "etcd request canceled");
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    start = preferred_.load();
  }
  std::string message = "etcd is unavailable at " + endpointList() + " (";
  bool first = true;
  for (const auto& [endpoint, error] : errors) {
    if (!first) message += "; ";
    first = false;
    message += options_.endpoints[endpoint] + ": " + error;
  }
  message += ")";
  if (!unknown_outcome.empty()) {
    message += "; the change may or may not have been made (" + unknown_outcome + ")";
  }
  return fail(Errc::unavailable, std::move(message));
}

Result<Listing> Client::range(const std::string& from, const std::string& end, bool keys_only,
                              const std::atomic<bool>* cancel) {
  Listing listing;
  std::string key = from;
  const std::string encoded_end = base64Encode(end);
  while (true) {
    nlohmann::json request = {
        {"key", base64Encode(key)}, {"range_end", encoded_end}, {"limit", kPageSize}};
    if (keys_only) request["keys_only"] = true;
    if (listing.revision != 0) request["revision"] = std::to_string(listing.revision);
    auto reply = call("/v3/kv/range", request, Request::read, cancel);
    if (!reply) return tl::unexpected(reply.error());
    const auto& body = reply->body;
    if (listing.revision == 0 && body.contains("header")) {
      listing.revision = int64Field(body["header"], "revision");
    }
    auto kvs = body.find("kvs");
    if (kvs == body.end() || !kvs->is_array() || kvs->empty()) break;
    for (const auto& kv : *kvs) {
      auto decoded_key = base64Decode(stringField(kv, "key"));
      auto decoded_value = base64Decode(stringField(kv, "value"));
      if (!decoded_key || !decoded_value) {
        return fail(Errc::io, "etcd answered a range with a key or value that is not base64");
      }
      listing.kvs.push_back(KeyValue{std::move(*decoded_key), std::move(*decoded_value),
                                     int64Field(kv, "mod_revision")});
    }
    if (!boolField(body, "more")) break;
    key = listing.kvs.back().key + '\0';  // the next key after the last one seen
  }
  return listing;
}

}  // namespace cutover::etcd
