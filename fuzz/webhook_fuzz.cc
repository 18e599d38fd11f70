// A webhook delivery for a site: its headers and body, verified as POST /hooks/<site> does.
//
// Input: header lines ("Name: value"), an empty line, then the body. A signature header whose
// value is "{sign}" gets the body's real HMAC under the site's secret, and "{secret}" becomes the
// secret (GitLab's token), so the fuzzer gets past the signature to the payload; any other value
// is checked as sent.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "fuzz_support.h"
#include "runs/webhook.h"

using cutover::fuzz::check;
using cutover::fuzz::validUtf8;

namespace {

constexpr std::string_view kSecret = "fuzz-secret";

std::string hmacHex(std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xf]);
  }
  return out;
}

void replaceAll(std::string& s, std::string_view what, const std::string& with) {
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = cutover::fuzz::text(data, size);
  std::string_view body;
  cutover::WebhookHeaders headers;
  while (true) {
    auto nl = input.find('\n');
    if (nl == std::string_view::npos) return -1;  // no empty line: no body
    std::string_view line = input.substr(0, nl);
    input.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return -1;
    std::string value(line.substr(colon + 1));
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    headers.emplace_back(std::string(line.substr(0, colon)), std::move(value));
  }
  body = input;
  std::string signature = hmacHex(body);
  for (auto& [name, value] : headers) {
    replaceAll(value, "{sign}", signature);
    replaceAll(value, "{secret}", std::string(kSecret));
  }

  cutover::SiteConfig site;
  site.name = "docs";
  site.branch = "main";
  site.webhook_secret = std::string(kSecret);
  cutover::WebhookVerdict v = cutover::verifyWebhook(site, headers, body);
  check(v.status == 202 || v.status == 400 || v.status == 401, "a verdict has a webhook status");
  check(!v.message.empty(), "a verdict says why");
  // The API answers with these as JSON, which must be UTF-8.
  check(validUtf8(v.message), "a verdict's message is valid UTF-8");
  check(validUtf8(v.provider), "a verdict's provider is valid UTF-8");
  if (v.accepted) {
    check(v.status == 202 && v.branch == site.branch, "only a push to the site's branch is built");
    check(v.after.size() == 40 || v.after.size() == 64, "an accepted commit is a full id");
    check(validUtf8(v.pusher), "a pusher is valid UTF-8");
  }
  return 0;
}
