#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover {

// Where an S3ObjectStore keeps its objects and how it talks to the service, from a URI:
//
//   s3://BUCKET[/PREFIX][?OPTION=VALUE&...]
//
//   endpoint=URL          http(s)://host[:port] of an S3-compatible service (default: AWS,
//                         https://s3.REGION.amazonaws.com)
//   region=NAME           signing region (default $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)
//   addressing=path|virtual  path: ENDPOINT/BUCKET/KEY; virtual: BUCKET.HOST/KEY
//                         (default: virtual for AWS, path when an endpoint is given)
//   conditional_put=yes|no   whether the service honours `If-None-Match: *` on PUT (default
//                         yes); no: manifests are guarded by a check instead (see
//                         S3ObjectStore::commitManifest)
//   part_size=SIZE        multipart part size (default 8MiB; S3 needs at least 5MiB)
//   multipart_above=SIZE  blobs larger than this go up in parts (default 16MiB)
//   page_size=N           keys per listing request, 1-1000 (default 1000)
//   parallel=N            requests in flight at once for one call (default 32)
//   retries=N             retries of a request after a 5xx, a 429 or a network error (default 4)
//   timeout_ms=N          an attempt fails when no byte moves for this long (default 30000)
//
// SIZE is bytes, or a number with KiB, MiB or GiB. Credentials come from the environment only
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), never from the URI.
struct S3Config {
  std::string bucket;
  std::string prefix;  // "" or ending in '/': prepended to every key
  std::string scheme;  // "http" or "https"
  std::string host;    // host[:port] of the endpoint
  std::string region;
  bool virtual_hosted = false;
  bool conditional_put = true;
  std::uint64_t part_size = 8ULL << 20;
  std::uint64_t multipart_above = 16ULL << 20;
  unsigned page_size = 1000;
  unsigned parallel = 32;
  unsigned retries = 4;
  std::chrono::milliseconds timeout{30000};

  std::string access_key;
  std::string secret_key;
  std::string session_token;

  // The URI it was made from, for messages (it holds no secret).
  std::string uri;

  // "http://127.0.0.1:7480" or "https://bucket.s3.eu-west-1.amazonaws.com": what a message
  // should name as the service.
  [[nodiscard]] std::string endpoint() const;

  // The URL of an object (`key` is the full key, prefix included) or, with an empty key, of the
  // bucket; `query` is appended after '?' as given (already encoded and sorted).
  [[nodiscard]] std::string url(std::string_view key, std::string_view query = {}) const;
};

// Parses an s3:// URI and reads the credentials from the environment. invalid_argument, naming
// the problem, on a malformed URI, an unknown option or missing credentials.
[[nodiscard]] Result<S3Config> parseS3Uri(std::string_view uri);

// Percent-encodes for a URL path or query value as SigV4 expects: every byte except A-Z a-z 0-9
// - _ . ~ (and '/' when `keep_slash`).
[[nodiscard]] std::string uriEncode(std::string_view text, bool keep_slash);

}  // namespace cutover
