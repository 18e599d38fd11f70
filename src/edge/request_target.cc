#include "edge/request_target.h"

#include <fmt/format.h>

#include "common/percent.h"
#include "cutover/common/site_path.h"

namespace cutover::edge {
namespace {

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

}  // namespace

Result<void> decodeTarget(std::string_view target, DecodedTarget& out) {
  auto reject = [&](std::string_view why) {
    return fail(Errc::invalid_argument, fmt::format("bad request target: {}", why));
  };
  out.path.clear();
  out.query = {};
  out.has_query = false;
  if (target.empty() || target.front() != '/') return reject("it must start with '/'");

  std::string_view raw = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    raw = target.substr(0, q);
    out.query = target.substr(q + 1);
    out.has_query = true;
  }
  out.raw_path = raw;

  // Decode first, then judge segments on the decoded bytes: "%2e%2e" and ".%2e" are ".." too.
  out.path.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      if (i + 2 >= raw.size()) return reject("malformed percent-escape");
      int hi = hexValue(raw[i + 1]);
      int lo = hexValue(raw[i + 2]);
      if (hi < 0 || lo < 0) return reject("malformed percent-escape");
      c = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
      if (c == '/') return reject("encoded '/'");
    }
    if (c == 0) return reject("NUL byte");
    if (c == '\\') return reject("backslash");
    if (isControl(c)) return reject("control character");
    out.path.push_back(static_cast<char>(c));
  }
  if (out.path.size() > kMaxPathLength + 1) return reject("path is too long");

  std::size_t depth = 0;
  std::string_view path = out.path;
  for (std::size_t start = 1; start <= path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == "..") return reject("'..' segment");
    if (!segment.empty() && ++depth > kMaxPathDepth) return reject("path is too deep");
    start = end + 1;
  }
  return {};
}

}  // namespace cutover::edge
