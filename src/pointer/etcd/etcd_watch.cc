#include "pointer/etcd/etcd_watch.h"

#include <curl/curl.h>

#include <set>
#include <utility>
#include <vector>

#include "common/backoff.h"
#include "common/log.h"
#include "pointer/etcd/base64.h"

namespace cutover::etcd {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Between attempts to open a stream while no member takes one: short, since a member that comes
// back should be used at once, and bounded, so a long outage costs little.
const Backoff kStreamBackoff(milliseconds(50), milliseconds(500), Backoff::Jitter::none);

}  // namespace

// ---- JsonObjectSplitter

bool JsonObjectSplitter::feed(std::string_view data,
                              const std::function<bool(std::string_view)>& on_object) {
  for (char c : data) {
    if (depth_ == 0 && c != '{') continue;  // whitespace (the gateway's newline) between objects
    object_ += c;
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        bool go_on = on_object(object_);
        object_.clear();
        if (!go_on) return false;
      }
    }
    if (object_.size() > kMaxObject) return false;
  }
  return true;
}

void JsonObjectSplitter::clear() {
  object_.clear();
  depth_ = 0;
  in_string_ = false;
  escaped_ = false;
}

// ---- WatchStream

namespace {

std::size_t onStreamData(char* data, std::size_t size, std::size_t count, void* user) {
  auto* feed = static_cast<std::function<bool(std::string_view)>*>(user);
  return (*feed)(std::string_view(data, size * count)) ? size * count : 0;
}

}  // namespace

WatchStream::WatchStream(std::shared_ptr<Client> client, std::string prefix, std::size_t strip,
                         WatchStart start, Sink sink)
    : client_(std::move(client)),
      prefix_(std::move(prefix)),
      strip_(strip),
      sink_(std::move(sink)),
      multi_(curl_multi_init()),
      last_revision_(start.revision),
      known_(std::move(start.known)) {
  thread_ = std::thread([this] { run(); });
}

WatchStream::~WatchStream() {
  stopping_ = true;
  {
    std::lock_guard lock(pause_mutex_);
    pause_cv_.notify_all();
  }
  if (multi_ != nullptr) curl_multi_wakeup(multi_);
  thread_.join();
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
}

void WatchStream::pause(milliseconds duration) {
  std::unique_lock lock(pause_mutex_);
  pause_cv_.wait_for(lock, duration, [&] { return stopping_.load(); });
}

void WatchStream::run() {
  const std::size_t count = client_->options().endpoints.size();
  std::size_t endpoint = client_->preferred();
  Backoff backoff = kStreamBackoff;
  while (!stopping_) {
    End end = multi_ == nullptr ? End::not_established : streamOnce(endpoint);
    if (end == End::stopped || stopping_) break;
    if (end == End::compacted) {
      if (relist()) continue;  // resume at once from the revision the list was read at
      end = End::not_established;
    }
    if (end == End::not_established && ever_created_ && !outage_reported_) {
      // Said once per outage: until it ends, whoever watches keeps what it last saw (an edge
      // serves the last pointers it knew).
      std::string endpoints;
      for (const auto& e : client_->options().endpoints)
        endpoints += (endpoints.empty() ? "" : ",") + e;
      log::warn(
          "cutover: etcd at {} is unreachable; watching again as soon as it answers (the last "
          "pointers seen stay in use)",
          endpoints);
      outage_reported_ = true;
    }
    // A member that ended an established stream (stopped, lost its leader) may be gone: the
    // next one is tried at once. Only while none takes a stream does the watch wait between tries.
    endpoint = (endpoint + 1) % count;
    if (end == End::dropped) {
      backoff.reset();
    } else {
      pause(backoff.next());
    }
  }
}

WatchStream::End WatchStream::streamOnce(std::size_t endpoint) {
  resume_from_ = last_revision_ + 1;
  nlohmann::json request = {{"create_request",
                             {{"key", base64Encode(prefix_)},
                              {"range_end", base64Encode(prefixEnd(prefix_))},
                              {"start_revision", std::to_string(resume_from_)},
                              {"progress_notify", true}}}};
  const std::string body = request.dump();
  const std::string url = "http://" + client_->options().endpoints[endpoint] + "/v3/watch";
  splitter_.clear();
  created_ = false;
  end_.reset();
  std::function<bool(std::string_view)> feed = [this](std::string_view data) {
    return splitter_.feed(data, [this](std::string_view text) { return onMessage(text); });
  };

  CURL* curl = curl_easy_init();
  if (curl == nullptr) return End::not_established;
  setUpPost(curl, url, body, onStreamData, &feed, client_->options().connect_timeout);
  // No overall timeout: the stream is meant to stay open. A member that dies without closing it
  // (a lost machine, a cut cable) is found by TCP keepalive instead.
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 5L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 2L);
  curl_multi_add_handle(multi_, curl);

  // A member that takes the connection but never confirms the watch is as good as down.
  const auto must_be_created_by = Clock::now() + client_->options().request_timeout;
  End end = End::dropped;
  while (true) {
    if (stopping_) {
      end = End::stopped;
      break;
    }
    int running = 0;
    curl_multi_perform(multi_, &running);
    if (end_) {
      end = *end_;
      break;
    }
    if (running == 0) {  // the member ended the stream, or the connection broke
      end = created_ ? End::dropped : End::not_established;
      break;
    }
    if (!created_ && Clock::now() > must_be_created_by) {
      end = End::not_established;
      break;
    }
    curl_multi_poll(multi_, nullptr, 0, 200, nullptr);
  }
  curl_multi_remove_handle(multi_, curl);
  curl_easy_cleanup(curl);
  return end;
}

// One message of the stream: {"result": WatchResponse} or, when the gateway's call to its member
// fails, {"error": {...}}. False ends the stream (end_ says how).
bool WatchStream::onMessage(std::string_view text) {
  auto message = nlohmann::json::parse(text, nullptr, false);
  if (message.is_discarded() || !message.is_object() || !message.contains("result") ||
      !message["result"].is_object()) {
    end_ = created_ ? End::dropped : End::not_established;
    return false;
  }
  const auto& result = message["result"];
  if (boolField(result, "canceled")) {
    // Canceled with a compact_revision: the revision to resume from is gone.
    end_ = int64Field(result, "compact_revision") > 0 ? End::compacted : End::dropped;
    return false;
  }
  if (boolField(result, "created")) {
    created_ = true;
    ever_created_ = true;
    if (std::exchange(outage_reported_, false)) {
      log::info("cutover: etcd answers again; catching up from revision {}", resume_from_);
    }
    return true;
  }
  auto events = result.find("events");
  if (events == result.end() || !events->is_array() || events->empty()) {
    // A progress notice: every change up to the header's revision has been sent.
    if (result.contains("header")) {
      last_revision_ = std::max(last_revision_, int64Field(result["header"], "revision"));
    }
    return true;
  }
  for (const auto& event : *events) {
    if (!event.is_object() || !event.contains("kv")) continue;
    const auto& kv = event["kv"];
    std::int64_t revision = int64Field(kv, "mod_revision");
    auto key = base64Decode(stringField(kv, "key"));
    auto value = base64Decode(stringField(kv, "value"));
    if (revision < resume_from_ || !key || !value || !key->starts_with(prefix_)) continue;
    bool removed = stringField(event, "type") == "DELETE";
    if (removed) {
      known_.erase(*key);
    } else {
      known_[*key] = revision;
    }
    std::string user_key = key->substr(strip_);
    sink_(PointerEvent{std::move(user_key),
                       removed ? std::nullopt : std::make_optional(std::move(*value))});
    last_revision_ = std::max(last_revision_, revision);
  }
  return true;
}

bool WatchStream::relist() {
  auto listing = client_->range(prefix_, prefixEnd(prefix_), false, &stopping_);
  if (!listing) return false;
  std::map<std::string, std::int64_t> now;
  for (auto& kv : listing->kvs) {
    now.emplace(kv.key, kv.mod_revision);
    auto it = known_.find(kv.key);
    if (it != known_.end() && it->second == kv.mod_revision) continue;
    sink_(PointerEvent{kv.key.substr(strip_), std::move(kv.value)});
  }
  for (const auto& [key, revision] : known_) {
    if (!now.contains(key)) sink_(PointerEvent{key.substr(strip_), std::nullopt});
  }
  known_ = std::move(now);
  last_revision_ = listing->revision;
  return true;
}

}  // namespace cutover::etcd
