#include "pipeline/rules_stage.h"

#include <fmt/format.h>

#include <optional>

#include "cutover/rules/parse.h"

namespace cutover {
namespace {

constexpr std::string_view kRedirects = "_redirects";
constexpr std::string_view kHeaders = "_headers";

// The text of a root rules file, or nullopt when the deploy has none.
Result<std::optional<std::string>> readRulesFile(ObjectStore& objects,
                                                 const std::map<std::string, FileEntry>& files,
                                                 std::string_view name) {
  auto it = files.find(std::string(name));
  if (it == files.end()) return std::nullopt;
  if (it->second.size > kMaxRulesFileBytes) {
    return fail(Errc::too_large, fmt::format("{} is {} bytes; a rules file may hold at most {}",
                                             name, it->second.size, kMaxRulesFileBytes));
  }
  auto text = objects.readBlob(it->second.hash);
  if (!text) {
    return fail(text.error().code, fmt::format("reading {}: {}", name, text.error().message));
  }
  return std::move(*text);
}

}  // namespace

Result<SiteRules> takeRules(ObjectStore& objects, std::map<std::string, FileEntry>& files) {
  SiteRules rules;
  auto redirects = readRulesFile(objects, files, kRedirects);
  if (!redirects) return tl::unexpected(redirects.error());
  if (*redirects) {
    auto parsed = parseRedirects(**redirects);
    if (!parsed) return tl::unexpected(parsed.error());
    rules.redirects = std::move(*parsed);
  }
  auto headers = readRulesFile(objects, files, kHeaders);
  if (!headers) return tl::unexpected(headers.error());
  if (*headers) {
    auto parsed = parseHeaders(**headers);
    if (!parsed) return tl::unexpected(parsed.error());
    rules.headers = std::move(*parsed);
  }
  // Only once both parsed: a failure leaves the file list as it was.
  files.erase(std::string(kRedirects));
  files.erase(std::string(kHeaders));
  return rules;
}

}  // namespace cutover
