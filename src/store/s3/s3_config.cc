#include "store/s3/s3_config.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <vector>

#include "common/percent.h"

namespace cutover {
namespace {

constexpr std::string_view kScheme = "s3://";

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

// Percent-decoded; a malformed escape or %00 is invalid_argument.
Result<std::string> decodeUriPart(std::string_view text) {
  auto decoded = cutover::percentDecode(text);
  if (!decoded || text.find("%00") != std::string_view::npos) {
    return fail(Errc::invalid_argument, fmt::format("bad percent-escape in '{}'", text));
  }
  return std::move(*decoded);
}

// Bucket names as S3 allows them (3-63 of a-z 0-9 . -), plus '_', which older services allow.
bool validBucket(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return std::isalnum(static_cast<unsigned char>(name.front())) != 0 &&
         std::isalnum(static_cast<unsigned char>(name.back())) != 0;
}

Result<std::uint64_t> parseNumber(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return fail(Errc::invalid_argument, fmt::format("'{}' is not a number", text));
  }
  return value;
}

Result<std::uint64_t> parseSize(std::string_view text) {
  std::uint64_t unit = 1;
  for (auto [suffix, factor] : {std::pair<std::string_view, std::uint64_t>{"KiB", 1ULL << 10},
                                {"MiB", 1ULL << 20},
                                {"GiB", 1ULL << 30}}) {
    if (text.ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      unit = factor;
      break;
    }
  }
  auto n = parseNumber(text);
  if (!n) return fail(Errc::invalid_argument, fmt::format("'{}' is not a size", text));
  return *n * unit;
}

Result<bool> parseYesNo(std::string_view text) {
  if (text == "yes" || text == "true" || text == "1") return true;
  if (text == "no" || text == "false" || text == "0") return false;
  return fail(Errc::invalid_argument, fmt::format("'{}' is not yes or no", text));
}

// Splits "http(s)://host[:port][/]" into scheme and host[:port].
Result<void> parseEndpoint(std::string_view endpoint, S3Config& config) {
  auto sep = endpoint.find("://");
  if (sep == std::string_view::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("endpoint '{}' is not a URL like http://127.0.0.1:7480", endpoint));
  }
  config.scheme = std::string(endpoint.substr(0, sep));
  if (config.scheme != "http" && config.scheme != "https") {
    return fail(Errc::invalid_argument,
                fmt::format("endpoint '{}' must start with http:// or https://", endpoint));
  }
  std::string_view host = endpoint.substr(sep + 3);
  if (host.ends_with('/')) host.remove_suffix(1);
  if (host.empty() || host.find_first_of("/?#@ ") != std::string_view::npos) {
    return fail(
        Errc::invalid_argument,
        fmt::format("endpoint '{}' must be scheme://host[:port], without a path", endpoint));
  }
  config.host = std::string(host);
  return {};
}

tl::unexpected<Error> invalid(std::string why) {
  return fail(Errc::invalid_argument, std::move(why));
}

// BUCKET[/PREFIX], the URI between s3:// and '?'.
Result<void> parseLocation(std::string_view path, S3Config& config) {
  auto slash = path.find('/');
  config.bucket = std::string(path.substr(0, slash));
  if (!validBucket(config.bucket)) {
    return invalid(
        fmt::format("'{}' is not a bucket name (3-63 of a-z, 0-9, '.', '-')", config.bucket));
  }
  if (slash == std::string_view::npos) return {};
  auto prefix = decodeUriPart(path.substr(slash + 1));
  if (!prefix) return tl::unexpected(prefix.error());
  std::string_view p = *prefix;
  while (p.starts_with('/')) p.remove_prefix(1);
  while (p.ends_with('/')) p.remove_suffix(1);
  if (!p.empty()) config.prefix = std::string(p) + "/";
  return {};
}

// The options that say where the service is, applied once all are read.
struct ServiceAddress {
  std::string endpoint;
  std::string addressing;
};

// A whole number from `min` to `max`, for option `name`.
Result<std::uint64_t> boundedNumber(std::string_view name, std::string_view text, std::uint64_t min,
                                    std::uint64_t max) {
  auto v = parseNumber(text);
  if (!v) return invalid(fmt::format("{}: {}", name, v.error().message));
  if (*v < min || *v > max) {
    return invalid(min == 0 ? fmt::format("{} must be at most {}", name, max)
                            : fmt::format("{} must be between {} and {}", name, min, max));
  }
  return v;
}

// One OPTION=VALUE of the query, VALUE decoded.
Result<void> parseOption(std::string_view name, std::string value, S3Config& config,
                         ServiceAddress& address) {
  if (name == "endpoint") {
    address.endpoint = std::move(value);
  } else if (name == "region") {
    if (value.empty()) return invalid("region is empty");
    config.region = std::move(value);
  } else if (name == "addressing") {
    if (value != "path" && value != "virtual") {
      return invalid(fmt::format("addressing must be path or virtual, not '{}'", value));
    }
    address.addressing = std::move(value);
  } else if (name == "conditional_put") {
    auto v = parseYesNo(value);
    if (!v) return invalid(fmt::format("{}: {}", name, v.error().message));
    config.conditional_put = *v;
  } else if (name == "part_size") {
    auto v = parseSize(value);
    if (!v) return invalid(fmt::format("{}: {}", name, v.error().message));
    if (*v < (5ULL << 20) || *v > (5ULL << 30)) {
      return invalid("part_size must be between 5MiB and 5GiB (S3's limits for a part)");
    }
    config.part_size = *v;
  } else if (name == "multipart_above") {
    auto v = parseSize(value);
    if (!v) return invalid(fmt::format("{}: {}", name, v.error().message));
    if (*v > (5ULL << 30)) return invalid("multipart_above must be at most 5GiB (S3's limit)");
    config.multipart_above = *v;
  } else if (name == "page_size") {
    auto v = boundedNumber(name, value, 1, 1000);
    if (!v) return tl::unexpected(v.error());
    config.page_size = static_cast<unsigned>(*v);
  } else if (name == "parallel") {
    auto v = boundedNumber(name, value, 1, 256);
    if (!v) return tl::unexpected(v.error());
    config.parallel = static_cast<unsigned>(*v);
  } else if (name == "retries") {
    auto v = boundedNumber(name, value, 0, 20);
    if (!v) return tl::unexpected(v.error());
    config.retries = static_cast<unsigned>(*v);
  } else if (name == "timeout_ms") {
    auto v = boundedNumber(name, value, 1, 3'600'000);
    if (!v) return tl::unexpected(v.error());
    config.timeout = std::chrono::milliseconds(*v);
  } else {
    return invalid(fmt::format(
        "unknown option '{}' (known: endpoint, region, addressing, conditional_put, part_size, "
        "multipart_above, page_size, parallel, retries, timeout_ms)",
        name));
  }
  return {};
}

// AWS when no endpoint is given (virtual-hosted unless asked otherwise), else that endpoint
// (path-style unless asked otherwise).
Result<void> placeService(const ServiceAddress& address, S3Config& config) {
  if (address.endpoint.empty()) {
    config.scheme = "https";
    config.host = fmt::format("s3.{}.amazonaws.com", config.region);
    config.virtual_hosted = address.addressing != "path";
  } else {
    if (auto ok = parseEndpoint(address.endpoint, config); !ok) return ok;
    config.virtual_hosted = address.addressing == "virtual";
  }
  if (config.virtual_hosted && config.bucket.find('_') != std::string::npos) {
    return invalid("a bucket name with '_' cannot be a host name: use addressing=path");
  }
  return {};
}

Result<void> readCredentials(S3Config& config) {
  config.access_key = env("AWS_ACCESS_KEY_ID");
  config.secret_key = env("AWS_SECRET_ACCESS_KEY");
  config.session_token = env("AWS_SESSION_TOKEN");
  if (config.access_key.empty() || config.secret_key.empty()) {
    return invalid(
        "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment "
        "(they are never taken from the URI or the command line)");
  }
  if (config.access_key.find(':') != std::string::npos) {
    return invalid("AWS_ACCESS_KEY_ID must not contain ':'");
  }
  return {};
}

}  // namespace

std::string uriEncode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

std::string S3Config::endpoint() const {
  if (virtual_hosted) return fmt::format("{}://{}.{}", scheme, bucket, host);
  return fmt::format("{}://{}", scheme, host);
}

std::string S3Config::url(std::string_view key, std::string_view query) const {
  std::string out = virtual_hosted ? fmt::format("{}://{}.{}/", scheme, bucket, host)
                                   : fmt::format("{}://{}/{}/", scheme, host, bucket);
  out += uriEncode(key, true);
  if (!query.empty()) {
    out += '?';
    out += query;
  }
  return out;
}

Result<S3Config> parseS3Uri(std::string_view uri) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument, fmt::format("object store URI '{}': {}", uri, why));
  };
  if (!uri.starts_with(kScheme)) return bad("must start with s3://");
  S3Config config;
  config.uri = std::string(uri);
  std::string_view rest = uri.substr(kScheme.size());
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto ok = parseLocation(rest, config); !ok) return bad(ok.error().message);

  config.region = env("AWS_REGION");
  if (config.region.empty()) config.region = env("AWS_DEFAULT_REGION");
  if (config.region.empty()) config.region = "us-east-1";
  ServiceAddress address;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) return bad(fmt::format("option '{}' has no value", pair));
    auto value = decodeUriPart(pair.substr(eq + 1));
    if (!value) return bad(value.error().message);
    if (auto ok = parseOption(pair.substr(0, eq), std::move(*value), config, address); !ok) {
      return bad(ok.error().message);
    }
  }
  if (auto ok = placeService(address, config); !ok) return bad(ok.error().message);
  if (auto ok = readCredentials(config); !ok) return bad(ok.error().message);
  return config;
}

}  // namespace cutover
