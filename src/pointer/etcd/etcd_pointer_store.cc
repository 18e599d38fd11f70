#include "pointer/etcd/etcd_pointer_store.h"

#include <cassert>
#include <utility>

#include "pointer/etcd/base64.h"
#include "pointer/etcd/etcd_watch.h"
#include "pointer/watch_dispatcher.h"

namespace cutover {
namespace {

constexpr std::string_view kScheme = "etcd://";
constexpr std::string_view kDefaultPort = "2379";

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool isIpv6Char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
         c == '.';
}

// "host", "host:port", "[v6]" or "[v6]:port" → "host:port".
Result<std::string> parseEndpoint(std::string_view text, const std::string& uri) {
  auto bad = [&](const std::string& why) {
    return fail(Errc::invalid_argument,
                "etcd URI \"" + uri + "\": member \"" + std::string(text) + "\" " + why);
  };
  std::string_view host;
  std::string_view port = kDefaultPort;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad("has no closing ']'");
    host = text.substr(0, close + 1);
    if (host.size() == 2) return bad("has an empty address");
    for (char c : host.substr(1, host.size() - 2)) {
      if (!isIpv6Char(c)) return bad("is not an IPv6 address in brackets");
    }
    auto after = text.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad("has something other than :port after ']'");
      port = after.substr(1);
    }
  } else {
    auto colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
    if (host.empty()) return bad("has no host");
    for (char c : host) {
      if (!isHostChar(c)) return bad("is not a host name or address (write host:port)");
    }
  }
  if (port.empty() || port.size() > 5) return bad("has no valid port (1-65535)");
  int number = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("has a port that is not a number");
    number = number * 10 + (c - '0');
  }
  if (number < 1 || number > 65535) return bad("has a port outside 1-65535");
  return std::string(host) + ":" + std::string(port);
}

}  // namespace

Result<EtcdPointerStore::Options> EtcdPointerStore::parseUri(const std::string& uri) {
  if (!uri.starts_with(kScheme)) {
    return fail(Errc::invalid_argument, "etcd URI \"" + uri + "\" does not start with etcd://");
  }
  std::string_view rest = std::string_view(uri).substr(kScheme.size());
  if (rest.find_first_of("?#@") != std::string_view::npos) {
    return fail(Errc::invalid_argument,
                "etcd URI \"" + uri +
                    "\" has a user, query or fragment, which are not supported: write "
                    "etcd://host1:2379,host2:2379/prefix");
  }
  auto slash = rest.find('/');
  std::string_view members = rest.substr(0, slash);
  Options options;
  if (members.empty()) {
    return fail(Errc::invalid_argument,
                "etcd URI \"" + uri + "\" names no member: write etcd://host:2379");
  }
  while (true) {
    auto comma = members.find(',');
    auto endpoint = parseEndpoint(members.substr(0, comma), uri);
    if (!endpoint) return tl::unexpected(endpoint.error());
    options.connection.endpoints.push_back(std::move(*endpoint));
    if (comma == std::string_view::npos) break;
    members.remove_prefix(comma + 1);
  }
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    std::string prefix(rest.substr(slash + 1));
    for (char c : prefix) {
      if (c < 0x21 || c > 0x7e) {
        return fail(Errc::invalid_argument,
                    "etcd URI \"" + uri + "\" has a prefix that is not printable ASCII");
      }
    }
    if (!prefix.ends_with('/')) prefix += '/';
    options.prefix = std::move(prefix);
  }
  return options;
}

EtcdPointerStore::EtcdPointerStore(Options options)
    : options_(std::move(options)), client_(std::make_shared<etcd::Client>(options_.connection)) {
  assert(!options_.connection.endpoints.empty());
}

EtcdPointerStore::~EtcdPointerStore() {
  std::shared_ptr<WatchDispatcher> dispatcher;
  std::unique_ptr<etcd::WatchStream> stream;
  {
    std::lock_guard lock(watch_mutex_);
    dispatcher = std::move(dispatcher_);
    stream = std::move(stream_);
  }
  // Outside the lock: a callback still running may call watch(), which takes it.
  stream.reset();
  if (dispatcher) dispatcher->stop();
}

Result<std::optional<std::string>> EtcdPointerStore::get(const std::string& key) {
  if (auto valid = validatePointerKey(key); !valid) return tl::unexpected(valid.error());
  nlohmann::json request = {{"key", etcd::base64Encode(options_.prefix + key)}};
  auto reply = client_->call("/v3/kv/range", request, etcd::Request::read);
  if (!reply) return tl::unexpected(reply.error());
  auto kvs = reply->body.find("kvs");
  if (kvs == reply->body.end() || !kvs->is_array() || kvs->empty()) {
    return std::optional<std::string>{};
  }
  auto value = etcd::base64Decode(etcd::stringField(kvs->front(), "value"));
  if (!value) return fail(Errc::io, "etcd answered " + key + " with a value that is not base64");
  return std::optional<std::string>{std::move(*value)};
}

Result<void> EtcdPointerStore::compareAndSet(const std::string& key,
                                             const std::optional<std::string>& expected,
                                             const std::optional<std::string>& desired) {
  if (auto valid = validatePointerWrite(key, desired); !valid) return valid;
  const std::string etcd_key = etcd::base64Encode(options_.prefix + key);
  // etcd fails a VALUE compare on a key that does not exist, so "holds expected" never matches
  // an absent key, not even for an empty expected value; CREATE == 0 matches only absence.
  nlohmann::json compare = expected ? nlohmann::json{{"key", etcd_key},
                                                     {"target", "VALUE"},
                                                     {"result", "EQUAL"},
                                                     {"value", etcd::base64Encode(*expected)}}
                                    : nlohmann::json{{"key", etcd_key},
                                                     {"target", "CREATE"},
                                                     {"result", "EQUAL"},
                                                     {"create_revision", "0"}};
  nlohmann::json success = nlohmann::json::array();
  if (desired) {
    success.push_back(
        {{"request_put", {{"key", etcd_key}, {"value", etcd::base64Encode(*desired)}}}});
  } else if (expected) {
    success.push_back({{"request_delete_range", {{"key", etcd_key}}}});
  }
  nlohmann::json request = {{"compare", nlohmann::json::array({compare})}, {"success", success}};
  auto reply = client_->call("/v3/kv/txn", request, etcd::Request::write);
  if (!reply) return tl::unexpected(reply.error());
  if (etcd::boolField(reply->body, "succeeded")) return {};
  if (!reply->earlier_unknown_outcome.empty()) {
    return fail(Errc::unavailable,
                "etcd lost the answer to the change of " + key + " (" +
                    reply->earlier_unknown_outcome +
                    "), and the key no longer holds the expected value: the change may or may "
                    "not have been made; read the key to see");
  }
  return fail(Errc::conflict, "key " + key + " was changed by another writer");
}

Result<std::map<std::string, std::string>> EtcdPointerStore::list(const std::string& prefix) {
  const std::string from = options_.prefix + prefix;
  auto listing = client_->range(from, etcd::prefixEnd(from), false);
  if (!listing) return tl::unexpected(listing.error());
  std::map<std::string, std::string> out;
  for (auto& kv : listing->kvs) {
    out.emplace(kv.key.substr(options_.prefix.size()), std::move(kv.value));
  }
  return out;
}

Result<WatchHandlePtr> EtcdPointerStore::watch(const std::string& prefix,
                                               std::function<void(const PointerEvent&)> callback) {
  std::lock_guard lock(watch_mutex_);
  if (!stream_) {
    // The stream starts from the revision read here, so every change after this returns is
    // delivered; the keys read tell a later re-list which ones were deleted. Later watches join
    // it: whatever it reads after they are added reaches them.
    const std::string& all = options_.prefix;
    auto listing = client_->range(all, etcd::prefixEnd(all), true);
    if (!listing) return tl::unexpected(listing.error());
    etcd::WatchStart start{listing->revision, {}};
    for (const auto& kv : listing->kvs) start.known.emplace(kv.key, kv.mod_revision);
    dispatcher_ = WatchDispatcher::start();
    stream_ = std::make_unique<etcd::WatchStream>(
        client_, all, all.size(), std::move(start),
        [dispatcher = dispatcher_](PointerEvent event) { dispatcher->post(std::move(event)); });
  }
  return dispatcher_->watch(prefix, std::move(callback));
}

}  // namespace cutover
