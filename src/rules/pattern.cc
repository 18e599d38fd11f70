#include "rules/pattern.h"

#include <fmt/format.h>

#include <algorithm>

#include "cutover/common/ascii.h"

namespace cutover::rules {
namespace {

bool isNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

bool isValidName(std::string_view name) {
  return !name.empty() && isNameStart(name.front()) &&
         std::all_of(name.begin(), name.end(), isNameChar);
}

bool isUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void appendEncoded(std::string& out, std::string_view value, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (isUnreserved(u) || keep.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
}

// Splits one part of a target ("/blog/:year/:splat") into literal and capture pieces.
Result<std::vector<TargetPiece>> parsePieces(std::string_view text, const Pattern& from,
                                             bool decode) {
  std::vector<TargetPiece> pieces;
  std::string scratch;
  auto addLiteral = [&](std::string_view literal) {
    if (literal.empty()) return;
    if (decode) {
      (void)percentDecode(literal, scratch);  // escapes were checked before
      pieces.push_back({scratch, -1});
    } else {
      // The literal goes out as written, with any raw non-ASCII byte escaped for the header.
      std::string out;
      for (char c : literal) {
        if (static_cast<unsigned char>(c) >= 0x80) {
          appendEncoded(out, std::string_view(&c, 1), "");
        } else {
          out.push_back(c);
        }
      }
      pieces.push_back({std::move(out), -1});
    }
  };
  std::size_t literal_start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != ':' || i + 1 >= text.size() || !isNameStart(text[i + 1])) {
      ++i;
      continue;
    }
    std::size_t end = i + 1;
    while (end < text.size() && isNameChar(text[end])) ++end;
    std::string_view name = text.substr(i + 1, end - i - 1);
    int capture = -1;
    if (name == "splat") {
      if (!from.splat)
        return fail(Errc::invalid_argument, "':splat' needs a '*' at the end of 'from'");
      capture = static_cast<int>(from.placeholders);
    } else {
      capture = from.captureOf(name);
      if (capture < 0) {
        return fail(Errc::invalid_argument,
                    fmt::format("':{}' is not a placeholder of 'from'", name));
      }
    }
    addLiteral(text.substr(literal_start, i - literal_start));
    pieces.push_back({{}, capture});
    i = end;
    literal_start = end;
  }
  addLiteral(text.substr(literal_start));
  return pieces;
}

}  // namespace

int Pattern::captureOf(std::string_view name) const {
  int index = 0;
  for (const auto& segment : segments) {
    if (!segment.placeholder) continue;
    if (segment.text == name) return index;
    ++index;
  }
  return -1;
}

Result<Pattern> parsePattern(std::string_view text) {
  auto bad = [&](std::string why) {
    return fail(Errc::invalid_argument, fmt::format("'{}' {}", text, why));
  };
  if (text.empty() || text.front() != '/') return bad("must start with '/'");
  if (text.find('?') != std::string_view::npos) {
    return bad(
        "contains '?': rules match paths only; conditions on query parameters are not supported "
        "(the request's query string is kept)");
  }
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad("contains a space or control character");
  }
  Pattern pattern;
  std::string_view body = text.substr(1);
  if (!body.empty() && body.back() == '/') body.remove_suffix(1);
  if (body.empty() && text.size() > 1) return bad("has an empty segment ('//')");
  if (body.empty()) return pattern;
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t end = std::min(body.find('/', start), body.size());
    std::string_view segment = body.substr(start, end - start);
    bool last = end == body.size();
    start = end + 1;
    if (segment.empty()) return bad("has an empty segment ('//')");
    if (segment.find('*') != std::string_view::npos) {
      if (segment != "*" || !last)
        return bad("may use '*' only as its whole last segment, as in /news/*");
      pattern.splat = true;
      break;
    }
    if (!segment.empty() && segment.front() == ':') {
      std::string_view name = segment.substr(1);
      if (!isValidName(name)) {
        return bad(fmt::format(
            "has placeholder '{}': a placeholder is a whole segment, ':' and a name of letters, "
            "digits and '_'",
            segment));
      }
      if (name == "splat") return bad("uses ':splat', which names what '*' matches; use '*'");
      if (pattern.captureOf(name) >= 0) return bad(fmt::format("uses ':{}' twice", name));
      pattern.segments.push_back({true, std::string(name)});
      ++pattern.placeholders;
      continue;
    }
    std::string decoded;
    if (!percentDecode(segment, decoded)) return bad("has a malformed percent-escape");
    if (decoded.find('/') != std::string::npos) {
      return bad("has an encoded '/' (%2F), which no request path contains");
    }
    pattern.segments.push_back({false, std::move(decoded)});
  }
  return pattern;
}

bool matchPattern(const Pattern& pattern, std::string_view path,
                  std::vector<std::string_view>* captures) {
  if (captures != nullptr) captures->clear();
  if (path.empty() || path.front() != '/') return false;
  std::size_t pos = 1;  // where the next segment starts; size() + 1 once the path is used up
  for (const auto& segment : pattern.segments) {
    if (pos > path.size()) return false;
    std::size_t end = std::min(path.find('/', pos), path.size());
    std::string_view part = path.substr(pos, end - pos);
    if (segment.placeholder) {
      if (part.empty()) return false;
      if (captures != nullptr) captures->push_back(part);
    } else if (part != segment.text) {
      return false;
    }
    pos = end + 1;
  }
  if (pattern.splat) {
    if (captures != nullptr) captures->push_back(pos < path.size() ? path.substr(pos) : "");
    return true;
  }
  // Nothing left, or only a trailing slash.
  return pos >= path.size();
}

std::string exactKey(const Pattern& pattern) {
  std::string key;
  for (const auto& segment : pattern.segments) {
    key.push_back('/');
    key.append(segment.text);
  }
  if (key.empty()) key = "/";
  return key;
}

std::string_view exactKey(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

Result<Target> parseTarget(std::string_view text, const Pattern& from, bool decode) {
  auto bad = [&](std::string why) {
    return fail(Errc::invalid_argument, fmt::format("target '{}' {}", text, why));
  };
  if (text.empty()) return bad("is empty");
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad("contains a space or control character");
  }
  Target target;
  std::string_view rest = text;
  std::string_view authority;
  if (startsWithIgnoreCase(text, "http://") || startsWithIgnoreCase(text, "https://")) {
    std::size_t host_start = text.find("://") + 3;
    std::size_t host_end = std::min(text.find_first_of("/?#", host_start), text.size());
    if (host_end == host_start) return bad("has no host");
    target.absolute = true;
    authority = text.substr(0, host_end);
    rest = text.substr(host_end);
  } else if (text.starts_with("//") || text.starts_with("/\\")) {
    // A browser reads "/\host" as "//host" too.
    return bad("names another host without a scheme; write it as https://host/...");
  } else if (text.front() != '/') {
    return bad("must be a path starting with '/' or an http:// or https:// URL");
  }
  std::string scratch;
  if (!percentDecode(rest, scratch)) return bad("has a malformed percent-escape");
  if (std::any_of(scratch.begin(), scratch.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
      })) {
    return bad("has an escaped control character");
  }

  std::size_t hash = rest.find('#');
  std::string_view fragment = hash == std::string_view::npos ? "" : rest.substr(hash + 1);
  std::string_view before = rest.substr(0, std::min(hash, rest.size()));
  std::size_t question = before.find('?');
  std::string_view query = question == std::string_view::npos ? "" : before.substr(question + 1);
  std::string_view path = before.substr(0, std::min(question, before.size()));

  auto pieces = parsePieces(path, from, decode);
  if (!pieces) return bad(pieces.error().message);
  target.path = std::move(*pieces);
  if (!authority.empty())
    target.path.insert(target.path.begin(), TargetPiece{std::string(authority), -1});
  target.has_query = question != std::string_view::npos;
  auto query_pieces = parsePieces(query, from, decode);
  if (!query_pieces) return bad(query_pieces.error().message);
  target.query = std::move(*query_pieces);
  target.has_fragment = hash != std::string_view::npos;
  auto fragment_pieces = parsePieces(fragment, from, decode);
  if (!fragment_pieces) return bad(fragment_pieces.error().message);
  target.fragment = std::move(*fragment_pieces);
  return target;
}

void appendEncodedPath(std::string& out, std::string_view value) {
  appendEncoded(out, value, "!$&'()*+,;=:@/");
}

void appendEncodedQuery(std::string& out, std::string_view value) {
  appendEncoded(out, value, "!$'()*,;:@/?");
}

}  // namespace cutover::rules
