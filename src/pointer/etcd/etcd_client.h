#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"

struct curl_slist;

namespace cutover::etcd {

struct ClientOptions {
  std::vector<std::string> endpoints;  // "host:port", tried in this order, then the next on failure
  // One attempt at one endpoint; a member that takes longer is treated as down.
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{2000};
  // A whole call, across every endpoint and the retries while the cluster elects a leader.
  std::chrono::milliseconds call_timeout{5000};
};

// Whether a request may be sent again once an attempt's outcome is unknown (sent, then the
// connection or a timeout ended it): a read may; a write may too, but the caller must know.
enum class Request { read, write };

struct Reply {
  nlohmann::json body;
  // Set for a write when an earlier attempt may have been applied before this one answered: a
  // compare that fails now may have failed on that attempt's own change. Says what happened.
  std::string earlier_unknown_outcome;
};

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t mod_revision = 0;
};

// A consistent snapshot of a key range: every key in it as of `revision`, in key order.
struct Listing {
  std::int64_t revision = 0;
  std::vector<KeyValue> kvs;
};

// etcd's v3 API through its JSON gateway (POST /v3/...), over libcurl, with failover between the
// members of a cluster. Thread-safe: each call takes a curl handle from a small pool, which keeps
// its connections open for the next call.
class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // POSTs `request` to `path` ("/v3/kv/range"), starting at the member that answered last and
  // moving on to the next on a connection error, a timeout, "no leader", "leader changed" or a
  // 5xx. While some member answers but none can serve (an election), retries until call_timeout.
  // Fails with unavailable naming every endpoint and what each said; at once when none accepts
  // a connection. `cancel`, when set by another thread, ends the call with interrupted.
  [[nodiscard]] Result<Reply> call(std::string_view path, const nlohmann::json& request,
                                   Request kind, const std::atomic<bool>* cancel = nullptr);

  // Every key in [from, end) with its value (or without, if keys_only), fetched in pages pinned
  // to the revision of the first.
  [[nodiscard]] Result<Listing> range(const std::string& from, const std::string& end,
                                      bool keys_only, const std::atomic<bool>* cancel = nullptr);

  [[nodiscard]] const ClientOptions& options() const { return options_; }
  // The endpoint the last successful call used: where a watch stream connects first.
  [[nodiscard]] std::size_t preferred() const { return preferred_.load(); }
  // "host1:2379, host2:2379", for messages.
  [[nodiscard]] std::string endpointList() const;

 private:
  struct Attempt;
  Attempt attempt(std::size_t endpoint, std::string_view path, const std::string& body,
                  std::chrono::milliseconds timeout, const std::atomic<bool>* cancel);
  void* take();  // a CURL*; libcurl's header stays out of this one
  void give(void* handle);

  ClientOptions options_;
  std::atomic<std::size_t> preferred_ = 0;
  std::mutex pool_mutex_;
  std::vector<void*> pool_;
};

// The headers every request to the gateway carries. "Grpc-Metadata-hasleader" asks the member to
// refuse requests (and end watch streams) while it has no leader, so a member cut off from its
// cluster sends us elsewhere instead of waiting; "Expect:" stops curl from waiting for a
// "100 Continue" before sending a large body.
[[nodiscard]] curl_slist* gatewayHeaders();  // built once, never freed

// Sets `curl` (a CURL*) up to POST `body` to `url` with the gateway's headers, directly (no
// proxy), without signals, handing the answer to `write` with `data`.
using WriteCallback = std::size_t (*)(char*, std::size_t, std::size_t, void*);
void setUpPost(void* curl, const std::string& url, const std::string& body, WriteCallback write,
               void* data, std::chrono::milliseconds connect_timeout);

// The end of the key range holding every key that starts with `prefix`: the prefix with its last
// byte below 0xff incremented ("a/" → "a0"); "\0" (every key) when there is none.
[[nodiscard]] std::string prefixEnd(std::string_view prefix);

// etcd's JSON carries 64-bit integers as strings ("revision": "42"); 0 when absent.
[[nodiscard]] std::int64_t int64Field(const nlohmann::json& object, const char* name);

// The field as a string or a bool; "" or false when absent or of another type (etcd's JSON leaves
// out every field that holds its default).
[[nodiscard]] std::string stringField(const nlohmann::json& object, const char* name);
[[nodiscard]] bool boolField(const nlohmann::json& object, const char* name);

}  // namespace cutover::etcd
