#include "support/s3_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>

namespace cutover::testing {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

// "s3://bucket?query" + prefix + options → "s3://bucket/prefix?query&options".
std::string withPrefix(const std::string& uri, const std::string& prefix,
                       std::string_view options) {
  auto q = uri.find('?');
  std::string base = uri.substr(0, q);
  std::string query = q == std::string::npos ? std::string() : uri.substr(q + 1);
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string out = base + "/" + prefix;
  if (!options.empty()) query += (query.empty() ? "" : "&") + std::string(options);
  if (!query.empty()) out += "?" + query;
  return out;
}

}  // namespace

std::string uniqueS3Prefix() {
  static std::atomic<int> next{0};
  static const std::uint32_t salt = std::random_device{}();
  return "t-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + "-" +
         std::to_string(salt % 100000);
}

std::optional<S3TestService> S3TestService::fromEnvOrSkip() {
  S3TestService service;
  service.uri_ = env("CUTOVER_TEST_S3_URI");
  service.endpoint_ = env("CUTOVER_TEST_S3_ENDPOINT");
  if (service.uri_.empty() || service.endpoint_.empty() || env("AWS_ACCESS_KEY_ID").empty()) {
    std::string message =
        "no S3 service: CUTOVER_TEST_S3_URI, CUTOVER_TEST_S3_ENDPOINT and AWS_ACCESS_KEY_ID are "
        "not set, so the S3 tests did NOT run. Start one with `scripts/radosgw start DIR` and "
        "`source DIR/env` (scripts/test does both)";
    if (env("CUTOVER_REQUIRE_SERVICES") == "1") {
      [&] { FAIL() << message << "; CUTOVER_REQUIRE_SERVICES=1 requires them"; }();
    } else {
      [&] { GTEST_SKIP() << message; }();
    }
    return std::nullopt;
  }
  auto colon = service.endpoint_.rfind(':');
  service.port_ = static_cast<std::uint16_t>(std::stoi(service.endpoint_.substr(colon + 1)));
  return service;
}

std::string S3TestService::uniqueUri(std::string_view options) const {
  return withPrefix(uri_, uniqueS3Prefix(), options);
}

std::string S3TestService::uniqueVirtualHostUri(std::string_view options) const {
  // radosgw is told its DNS name is localhost, and curl resolves *.localhost to loopback.
  std::string virtual_options =
      "endpoint=http://localhost:" + std::to_string(port_) + "&addressing=virtual";
  if (!options.empty()) virtual_options += "&" + std::string(options);
  return withPrefix(uri_, uniqueS3Prefix(), virtual_options);
}

}  // namespace cutover::testing
