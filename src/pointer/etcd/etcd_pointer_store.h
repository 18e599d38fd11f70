#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "cutover/pointer/pointer_store.h"
#include "pointer/etcd/etcd_client.h"

namespace cutover {

class WatchDispatcher;
namespace etcd {
class WatchStream;
}  // namespace etcd

// A PointerStore in an etcd v3 cluster, shared by every machine that reaches it. Speaks etcd's
// JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/watch) over HTTP; keys and values travel
// base64-encoded, every key under the store's prefix ("cutover/" unless the URI names another).
//
// - compareAndSet is one transaction: compare the key's value with `expected` (or its create
//   revision with 0 for "absent"), then put or delete; etcd commits it to a quorum of members
//   before answering, so it is durable when it returns.
// - The first watch() opens one streaming /v3/watch for every key under the store's prefix, which
//   all its watches share: callbacks run one at a time, in the order etcd made the changes.
//   After a disconnect the stream resumes from the revision after the last one it delivered, on
//   the same or another member: no change is missed. If etcd compacted that revision meanwhile,
//   it re-lists the prefix and delivers what differs from what it delivered before.
// - Every call has a timeout and moves on to the next member on a connection error, a timeout,
//   "no leader", "leader changed" or a 5xx. When no member can serve, calls fail with
//   unavailable, naming the endpoints; at once when none accepts a connection. The store never
//   connects ahead of a call, so one can be made while the cluster is down.
// - A write whose answer was lost (a member killed after receiving it) is sent again elsewhere
//   with the same compare. If that one then sees another value, the first may have been
//   applied: the call fails with unavailable saying the change may or may not have been made,
//   never with a conflict that could be its own.
class EtcdPointerStore final : public PointerStore {
 public:
  struct Options {
    etcd::ClientOptions connection;  // endpoints and timeouts
    std::string prefix = "cutover/";
  };

  // "etcd://host1:2379,host2:2379[/prefix]": members as host:port (port 2379 if left out;
  // IPv6 as [addr]:port), and the key prefix (a '/' is added if it does not end in one).
  // invalid_argument naming the problem for anything else.
  [[nodiscard]] static Result<Options> parseUri(const std::string& uri);

  explicit EtcdPointerStore(Options options);
  ~EtcdPointerStore() override;
  EtcdPointerStore(const EtcdPointerStore&) = delete;
  EtcdPointerStore& operator=(const EtcdPointerStore&) = delete;

  Result<std::optional<std::string>> get(const std::string& key) override;
  Result<void> compareAndSet(const std::string& key, const std::optional<std::string>& expected,
                             const std::optional<std::string>& desired) override;
  Result<std::map<std::string, std::string>> list(const std::string& prefix) override;
  Result<WatchHandlePtr> watch(const std::string& prefix,
                               std::function<void(const PointerEvent&)> callback) override;

  [[nodiscard]] const Options& options() const { return options_; }

 private:
  Options options_;
  std::shared_ptr<etcd::Client> client_;
  std::mutex watch_mutex_;
  // Started by the first watch(), ended by the destructor.
  std::shared_ptr<WatchDispatcher> dispatcher_;
  std::unique_ptr<etcd::WatchStream> stream_;
};

}  // namespace cutover
