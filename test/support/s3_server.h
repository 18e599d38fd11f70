#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cutover::testing {

// The S3 service the tests use: a radosgw started once for the whole test run by
// `scripts/radosgw start DIR` (scripts/test does this), described by the variables DIR/env
// exports: CUTOVER_TEST_S3_URI, CUTOVER_TEST_S3_ENDPOINT and the AWS_* credentials.
class S3TestService {
 public:
  // The service, if the environment names one. If not, records a skip for the running test (or,
  // when $CUTOVER_REQUIRE_SERVICES is 1, a failure) and returns nullopt: the caller returns.
  static std::optional<S3TestService> fromEnvOrSkip();

  // The URI of a prefix of its own in the test bucket (unique per call), with `options`
  // ("a=1&b=2") added after the environment's; a later option overrides an earlier one.
  [[nodiscard]] std::string uniqueUri(std::string_view options = {}) const;
  // The same, addressed virtual-host style: http://BUCKET.localhost:PORT/KEY.
  [[nodiscard]] std::string uniqueVirtualHostUri(std::string_view options = {}) const;

  [[nodiscard]] const std::string& uri() const { return uri_; }
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }  // http://127.0.0.1:PORT
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  std::string uri_;
  std::string endpoint_;
  std::uint16_t port_ = 0;
};

// A unique name for a test's objects: "t-<pid>-<n>-<random>".
std::string uniqueS3Prefix();

}  // namespace cutover::testing
