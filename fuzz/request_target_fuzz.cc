// The edge's request-target decoder: any bytes a client puts between the method and the version.
// A target it accepts must name a path inside a version.
#include "cutover/common/site_path.h"
#include "edge/request_target.h"
#include "fuzz_support.h"

using cutover::fuzz::check;
using cutover::fuzz::within;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view target = cutover::fuzz::text(data, size);
  static cutover::edge::DecodedTarget out;  // reused, as a connection reuses it
  auto decoded = cutover::edge::decodeTarget(target, out);
  if (!decoded) {
    check(!decoded.error().message.empty(), "a refused target says why");
    return 0;
  }
  check(!out.path.empty() && out.path.front() == '/', "a decoded path starts with '/'");
  check(out.path.size() <= cutover::kMaxPathLength + 1, "a decoded path is within the limit");
  check(within(out.raw_path, target) && within(out.query, target),
        "raw path and query are views into the target");
  check(out.has_query || out.query.empty(), "no query without '?'");
  for (char c : out.path) {
    auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u != 0x7f && c != '\\', "no control character or backslash in a path");
  }
  std::string_view path = out.path;
  for (std::size_t start = 1; start <= path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    check(path.substr(start, end - start) != "..", "no '..' segment in a decoded path");
    start = end + 1;
  }
  // What the router looks up: the path without its leading '/' must be a manifest key or fail
  // cleanly, never throw.
  if (path.size() > 1) (void)cutover::normalizeSitePath(path.substr(1));
  return 0;
}
