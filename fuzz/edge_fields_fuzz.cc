// The request fields the edge parses itself, each given the same bytes: Range, If-None-Match,
// If-Modified-Since / If-Range dates, the pin cookie, the `dpl` query parameter, Accept-Encoding.
#include <array>
#include <limits>

#include "edge/conditional.h"
#include "edge/encoding.h"
#include "edge/http_date.h"
#include "edge/range.h"
#include "edge/skew.h"
#include "fuzz_support.h"

using cutover::fuzz::check;
using cutover::fuzz::within;
namespace edge = cutover::edge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view field = cutover::fuzz::text(data, size);

  constexpr std::array<std::uint64_t, 5> kSizes{0, 1, 100, 1ULL << 40,
                                                std::numeric_limits<std::uint64_t>::max()};
  for (std::uint64_t n : kSizes) {
    edge::ByteRange r = edge::parseRange(field, n);
    if (r.kind == edge::ByteRange::Kind::partial) {
      check(r.first <= r.last && r.last < n, "a partial range lies inside the representation");
      check(r.length() >= 1 && r.length() <= n, "a partial range has a length within the size");
    }
  }

  (void)edge::ifNoneMatchMatches(field, "\"3f9a0c\"");
  (void)edge::ifNoneMatchMatches(field, "");

  if (auto t = edge::parseHttpDate(field)) {
    // A date it accepts is one it can write back, and reads back the same.
    std::string formatted = edge::formatHttpDate(*t);
    auto again = edge::parseHttpDate(formatted);
    check(again && *again == *t, "an accepted HTTP date survives formatting and parsing");
  }
  (void)edge::parseRfc3339(field);

  for (std::time_t now : {std::time_t{1'764'000'000}, std::time_t{4'102'444'800}}) {
    std::string_view pinned = edge::pinnedByCookie(field, now, 3600);
    check(within(pinned, field), "a pinned version is a view into the Cookie field");
  }
  std::string_view by_query = edge::pinnedByQuery(field);
  check(within(by_query, field), "the dpl value is a view into the query");
  (void)edge::isNavigation(field, field);

  for (bool br : {false, true}) {
    for (bool gzip : {false, true}) {
      auto coding = edge::chooseEncoding(field, {br, gzip});
      check(coding == edge::ContentCoding::identity || (coding == edge::ContentCoding::br && br) ||
                (coding == edge::ContentCoding::gzip && gzip),
            "only a form the file has is chosen");
    }
  }
  return 0;
}
