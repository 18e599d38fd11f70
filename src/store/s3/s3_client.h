#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/common/result.h"
#include "store/s3/s3_config.h"

namespace cutover {

// One request to the bucket.
struct S3Request {
  std::string method = "GET";        // GET, HEAD, PUT, POST or DELETE
  std::string key;                   // the full key, prefix included; empty: the bucket itself
  std::string query;                 // without '?', encoded, names sorted (SigV4's canonical form)
  std::vector<std::string> headers;  // "Name: value", signed with the rest
  // The body: `body` from memory (the caller keeps it alive until the call returns), or else
  // `body_size` bytes of `body_fd` from `body_offset`.
  std::string_view body;
  int body_fd = -1;
  std::uint64_t body_offset = 0;
  std::uint64_t body_size = 0;
  // x-amz-content-sha256: the body's SHA-256 when known (the service then checks it), else
  // empty for UNSIGNED-PAYLOAD.
  std::string payload_sha256;
  // When set, a 2xx response body is written here (from offset 0, truncated on a retry) instead
  // of into S3Response::body.
  int response_fd = -1;
  // What the request is for, in messages: "store blob 1f3a…".
  std::string what;
};

struct S3Response {
  long status = 0;
  std::string body;             // the body, unless it went to response_fd
  std::uint64_t body_size = 0;  // bytes of body received
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  unsigned attempts = 0;  // > 1: an earlier attempt may have reached the service

  [[nodiscard]] bool ok() const { return status >= 200 && status < 300; }
  // A header's value, or "" when absent.
  [[nodiscard]] std::string header(std::string_view name) const;
};

// Talks HTTP to one bucket through libcurl: SigV4 signing, connection reuse, many requests in
// flight at once, retries.
//
// Connections live in libcurl multi handles ("lanes"). A call takes an idle lane (or makes
// one), runs its requests on it and gives it back, so connections are reused across calls and
// threads without any curl handle ever being used by two threads at once. (libcurl's shared
// connection cache would do the same with one pool, but it is not safe across threads.)
//
// Retries: a network error (refused, reset, timed out, nothing received) and the statuses 5xx
// (except 501 and 505) and 429 are retried up to config.retries times, after a random delay of
// up to 100 ms, 200 ms, 400 ms, ... (capped at 2 s: "full jitter", so that many clients backing
// off from one overloaded service do not return in step). Other 4xx are final at once.
class S3Client {
 public:
  explicit S3Client(S3Config config);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  [[nodiscard]] const S3Config& config() const { return config_; }

  // Sends one request and returns the final response, whatever its status. unavailable when the
  // service could not be reached, or answered 5xx/429, on every attempt; io on a local failure
  // (reading the body, writing the response).
  [[nodiscard]] Result<S3Response> send(const S3Request& request);

  // Sends many, at most `parallel` (0: config.parallel) at once; one result per request, in
  // order.
  [[nodiscard]] std::vector<Result<S3Response>> sendAll(std::span<const S3Request> requests,
                                                        unsigned parallel = 0);

  // The error for a response that is not what the caller wanted: 403 says the credentials were
  // refused, 404 NoSuchBucket that the bucket does not exist, 404 otherwise is not_found, the
  // rest carry the status and the service's error code.
  [[nodiscard]] Error errorFor(const S3Request& request, const S3Response& response) const;

 private:
  struct Lane;
  class Batch;  // one sendAll call
  std::unique_ptr<Lane> takeLane();
  void giveBack(std::unique_ptr<Lane> lane);

  S3Config config_;
  std::string sigv4_;  // "aws:amz:REGION:s3"
  std::mutex lanes_mutex_;
  std::vector<std::unique_ptr<Lane>> idle_lanes_;
};

}  // namespace cutover
