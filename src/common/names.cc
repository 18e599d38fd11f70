#include "cutover/common/names.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "common/random.h"

namespace cutover {
namespace {

bool isLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  if (s.find("--") != std::string_view::npos) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace

Result<void> validateSiteName(std::string_view name) {
  if (isLabel(name)) return {};
  return fail(Errc::invalid_argument,
              fmt::format("site name '{}' is not valid: use 1 to 63 of a-z, 0-9 and '-', not "
                          "starting or ending with '-' and without '--'",
                          name));
}

Result<void> validateVersionId(std::string_view id) {
  if (isLabel(id)) return {};
  return fail(Errc::invalid_argument, fmt::format("'{}' is not a version id", id));
}

std::string newVersionId(std::string_view prefix) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::string id =
      fmt::format("{:04}{:02}{:02}-{:02}{:02}{:02}-{}", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, randomHex(3));
  if (prefix.empty()) return id;
  return fmt::format("{}-{}", prefix, id);
}

std::string normalizeHost(std::string_view host) {
  std::string out;
  normalizeHostInto(host, out);
  return out;
}

void normalizeHostInto(std::string_view host, std::string& out) {
  if (!host.empty() && host.front() == '[') {  // [::1]:8080
    auto close = host.find(']');
    host = host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  out.assign(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

}  // namespace cutover
