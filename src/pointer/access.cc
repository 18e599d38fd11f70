#include "cutover/pointer/access.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

#include "common/random.h"

namespace cutover {
namespace {

std::string hmacHex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &len) == nullptr) {
    return {};
  }
  std::string out;
  out.reserve(std::size_t{len} * 2);
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", mac[i]);
  return out;
}

bool sameText(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view kindName(AccessKind kind) {
  return kind == AccessKind::share ? "share" : "cookie";
}

}  // namespace

std::string signAccess(std::string_view key, AccessKind kind, std::string_view label,
                       std::int64_t until) {
  return fmt::format("{}.{}", until,
                     hmacHex(key, fmt::format("{}\n{}\n{}", kindName(kind), label, until)));
}

std::optional<std::int64_t> checkAccess(std::string_view key, AccessKind kind,
                                        std::string_view label, std::string_view token,
                                        std::int64_t now) {
  if (key.empty()) return std::nullopt;
  auto dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::int64_t until = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + dot, until);
  if (ec != std::errc() || end != token.data() + dot || until <= now) return std::nullopt;
  if (!sameText(signAccess(key, kind, label, until), token)) return std::nullopt;
  return until;
}

std::string bypassSecret(std::string_view key, std::string_view site) {
  return hmacHex(key, fmt::format("bypass\n{}", site));
}

bool checkBypass(std::string_view key, std::string_view site, std::string_view given) {
  return !key.empty() && sameText(bypassSecret(key, site), given);
}

std::string newAccessKey() { return randomHex(32); }

}  // namespace cutover
