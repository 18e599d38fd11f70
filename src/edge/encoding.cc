#include "edge/encoding.h"

#include <algorithm>
#include <optional>

#include "cutover/common/ascii.h"

namespace cutover::edge {
namespace {

// Weights in thousandths, as qvalue allows at most three decimals.
constexpr int kFull = 1000;

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isTokenChar);
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
std::optional<int> parseQvalue(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return std::nullopt;
  int whole = s[0] - '0';
  if (s.size() == 1) return whole * kFull;
  if (s[1] != '.' || s.size() > 5) return std::nullopt;
  int fraction = 0;
  int scale = 100;
  for (char c : s.substr(2)) {
    if (c < '0' || c > '9') return std::nullopt;
    fraction += (c - '0') * scale;
    scale /= 10;
  }
  if (whole == 1 && fraction != 0) return std::nullopt;
  return whole * kFull + fraction;
}

// The weight a member gives, or nothing if the member is malformed. Parameters other than q
// carry no meaning for content codings and are ignored.
std::optional<int> memberWeight(std::string_view params) {
  int weight = kFull;
  while (!params.empty()) {
    auto semicolon = params.find(';');
    auto param = trimBlanks(params.substr(0, semicolon));
    params =
        semicolon == std::string_view::npos ? std::string_view() : params.substr(semicolon + 1);
    auto equals = param.find('=');
    if (equals == std::string_view::npos) continue;
    if (!equalsIgnoreCase(trimBlanks(param.substr(0, equals)), "q")) continue;
    auto q = parseQvalue(trimBlanks(param.substr(equals + 1)));
    if (!q) return std::nullopt;
    weight = *q;
  }
  return weight;
}

// A coding's weight as listed: nothing when not named.
struct Weights {
  std::optional<int> br, gzip, identity, any;

  static void lower(std::optional<int>& slot, int weight) {
    slot = slot ? std::min(*slot, weight) : weight;
  }
};

Weights parse(std::string_view field) {
  Weights w;
  while (!field.empty()) {
    auto comma = field.find(',');
    auto member = field.substr(0, comma);
    field = comma == std::string_view::npos ? std::string_view() : field.substr(comma + 1);
    auto semicolon = member.find(';');
    auto coding = trimBlanks(member.substr(0, semicolon));
    if (!isToken(coding)) continue;
    auto weight = memberWeight(semicolon == std::string_view::npos ? std::string_view()
                                                                   : member.substr(semicolon + 1));
    if (!weight) continue;
    if (equalsIgnoreCase(coding, "br")) {
      Weights::lower(w.br, *weight);
    } else if (equalsIgnoreCase(coding, "gzip") || equalsIgnoreCase(coding, "x-gzip")) {
      Weights::lower(w.gzip, *weight);
    } else if (equalsIgnoreCase(coding, "identity")) {
      Weights::lower(w.identity, *weight);
    } else if (coding == "*") {
      Weights::lower(w.any, *weight);
    }
  }
  return w;
}

}  // namespace

ContentCoding chooseEncoding(std::string_view accept_encoding, AvailableForms available) {
  if (!available.br && !available.gzip) return ContentCoding::identity;
  auto w = parse(accept_encoding);
  int br = available.br ? w.br.value_or(w.any.value_or(0)) : 0;
  int gzip = available.gzip ? w.gzip.value_or(w.any.value_or(0)) : 0;
  int best = std::max(br, gzip);
  if (best == 0) return ContentCoding::identity;
  if (w.identity && *w.identity > best) return ContentCoding::identity;
  return br >= gzip ? ContentCoding::br : ContentCoding::gzip;
}

std::string_view contentEncodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::br:
      return "br";
    case ContentCoding::gzip:
      return "gzip";
    case ContentCoding::identity:
      break;
  }
  return "";
}

}  // namespace cutover::edge
