// The edge's request path after the HTTP parser: a request head, as the parser hands it over,
// answered by the Handler over a site in memory (live and stored versions, rules, precompressed
// forms). Everything the edge itself parses is reached: the target, Host, Range, If-Range,
// If-None-Match, If-Modified-Since, Accept-Encoding, the pin cookie, header and query.
//
// Input: an HTTP/1.1 request head as text ("GET /a?b HTTP/1.1\nHost: h\nRange: ...\n"); lines
// end with LF or CRLF. Bytes the HTTP parser refuses (controls in the target or a value) are
// refused here too, so every finding is reachable over a socket.
#include <memory>
#include <span>
#include <string>

#include "cutover/common/ascii.h"
#include "cutover/common/hash.h"
#include "cutover/common/media_type.h"
#include "cutover/pointer/records.h"
#include "cutover/rules/parse.h"
#include "edge/file_cache.h"
#include "edge/handler.h"
#include "edge/reply.h"
#include "edge/routing_state.h"
#include "fuzz_support.h"
#include "pointer/memory/memory_pointer_store.h"
#include "store/memory/memory_object_store.h"

namespace {

using cutover::fuzz::check;
namespace edge = cutover::edge;

std::string storeBlob(cutover::ObjectStore& objects, std::string_view bytes) {
  auto writer = objects.newBlob();
  check(writer.has_value(), "a memory blob can be started");
  check((*writer)->write(std::as_bytes(std::span(bytes.data(), bytes.size()))).has_value(),
        "a memory blob can be written");
  auto stored = (*writer)->finish();
  check(stored.has_value(), "a memory blob can be finished");
  return stored->hash;
}

void putVersion(cutover::ObjectStore& objects, const std::string& version, bool with_rules) {
  cutover::Manifest m;
  m.site = "docs";
  m.version = version;
  m.created = "2026-11-27T19:55:29.123Z";
  m.source = "fuzz";
  auto add = [&](const std::string& path, const std::string& content) -> cutover::FileEntry& {
    auto& entry = m.files[path];
    entry = {storeBlob(objects, content),
             content.size(),
             std::string(cutover::mediaTypeFor(path)),
             {},
             {}};
    return entry;
  };
  add("index.html", "<h1>" + version + "</h1>");
  add("about/index.html", "about");
  add("404.html", "not here");
  add("big.bin", std::string(300, 'b'));  // over the memory cache's limit: streamed
  auto& css = add("app.css", std::string(200, 'c'));
  css.br = {storeBlob(objects, "brotli form"), 11};
  css.gzip = {storeBlob(objects, "gzip form!"), 10};
  if (with_rules) {
    auto redirects = cutover::parseRedirects(
        "/old /about 301\n/go/* /:splat 302\n/blog/:year/:slug /news/:year/:slug\n"
        "/app/* /index.html 200\n/gone /404.html 404\n/ext/* https://example.com/:splat 301\n");
    auto headers = cutover::parseHeaders(
        "/*\n  X-Frame-Options: DENY\n  Cache-Control: public, max-age=10\n/app/*\n"
        "  ! X-Frame-Options\n  Content-Type: text/plain\n  X-Extra: a\n  X-Extra: b\n");
    if (!redirects || !headers) {
      std::fprintf(stderr, "%s\n",
                   (!redirects ? redirects.error() : headers.error()).message.c_str());
    }
    check(redirects.has_value() && headers.has_value(), "the fixture's rules parse");
    m.rules.redirects = std::move(*redirects);
    m.rules.headers = std::move(*headers);
  }
  check(objects.commitManifest(m).has_value(), "the fixture's manifest commits");
}

struct Fixture {
  Fixture() {
    putVersion(*objects, "v1", true);
    putVersion(*objects, "v2", false);
    auto live = pointers->get(cutover::liveKey("docs"));
    check(live.has_value(), "the memory pointer store answers");
    cutover::LivePointer p{"v1", "", "2026-11-28T10:00:00.000Z", "fuzz"};
    check(pointers->compareAndSet(cutover::liveKey("docs"), *live, p.toJson()).has_value(),
          "the live pointer is set");
    auto settings = pointers->get(cutover::siteKey("docs"));
    check(settings.has_value(), "the memory pointer store answers");
    cutover::SiteSettings s{{"docs.example.com"}};
    check(pointers->compareAndSet(cutover::siteKey("docs"), *settings, s.toJson()).has_value(),
          "the site's hosts are set");
    check(state.start().has_value(), "the routing state starts");
  }

  std::shared_ptr<cutover::MemoryObjectStore> objects =
      std::make_shared<cutover::MemoryObjectStore>();
  std::shared_ptr<cutover::MemoryPointerStore> pointers =
      std::make_shared<cutover::MemoryPointerStore>();
  edge::RoutingState state{objects, pointers, "localhost"};
  edge::FileCache cache{1 << 20};
  edge::Handler handler{state, *objects, cache, edge::HandlerOptions{true, 256}};
  edge::RequestScratch scratch;
  edge::Reply reply;
};

// What Beast lets through: a request target of visible ASCII and obs-text; field values of
// visible characters, obs-text, space and tab (without leading or trailing blanks).
bool targetByte(unsigned char c) { return c > 0x20 && c != 0x7f; }
bool valueByte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

struct Fields {
  std::string method, target, host, if_none_match, if_modified_since, range, if_range,
      accept_encoding, accept, cookie, pin, sec_fetch_mode;
};

void join(std::string& into, std::string_view value, std::string_view separator) {
  if (!into.empty()) into.append(separator);
  into.append(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  std::string_view input = cutover::fuzz::text(data, size);
  edge::RequestHead head;
  Fields fields;
  bool first = true;
  while (!input.empty()) {
    auto nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first) {
      first = false;
      auto sp1 = line.find(' ');
      auto sp2 = line.rfind(' ');
      if (sp1 == std::string_view::npos || sp2 == sp1) return -1;
      std::string_view method = line.substr(0, sp1);
      std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::string_view version = line.substr(sp2 + 1);
      if (method.empty() || target.empty()) return -1;
      for (char c : target) {
        if (!targetByte(static_cast<unsigned char>(c))) return -1;
      }
      fields.method = method;
      fields.target = target;
      head.method = method == "GET"    ? edge::Method::get
                    : method == "HEAD" ? edge::Method::head
                                       : edge::Method::other;
      head.http10 = version == "HTTP/1.0";
      continue;
    }
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return -1;
    std::string_view name = line.substr(0, colon);
    std::string_view value = cutover::trimBlanks(line.substr(colon + 1));
    for (char c : value) {
      if (!valueByte(static_cast<unsigned char>(c))) return -1;
    }
    using cutover::equalsIgnoreCase;
    if (equalsIgnoreCase(name, "host")) {
      if (head.has_host) return -1;  // the parser refuses two
      fields.host = value;
      head.has_host = true;
    } else if (equalsIgnoreCase(name, "if-none-match")) {
      join(fields.if_none_match, value, ", ");
      head.has_if_none_match = true;
    } else if (equalsIgnoreCase(name, "if-modified-since")) {
      fields.if_modified_since = value;
    } else if (equalsIgnoreCase(name, "range")) {
      fields.range = head.has_range ? "," : std::string(value);
      head.has_range = true;
    } else if (equalsIgnoreCase(name, "if-range")) {
      fields.if_range = value;
    } else if (equalsIgnoreCase(name, "accept-encoding")) {
      join(fields.accept_encoding, value, ", ");
    } else if (equalsIgnoreCase(name, "accept")) {
      join(fields.accept, value, ", ");
    } else if (equalsIgnoreCase(name, "cookie")) {
      join(fields.cookie, value, "; ");
    } else if (equalsIgnoreCase(name, "x-cutover-pin")) {
      fields.pin = value;
    } else if (equalsIgnoreCase(name, "sec-fetch-mode")) {
      fields.sec_fetch_mode = value;
    }
  }
  if (first) return -1;
  head.method_name = fields.method;
  head.target = fields.target;
  head.host = fields.host;
  head.if_none_match = fields.if_none_match;
  head.if_modified_since = fields.if_modified_since;
  head.range = fields.range;
  head.if_range = fields.if_range;
  head.accept_encoding = fields.accept_encoding;
  head.accept = fields.accept;
  head.cookie = fields.cookie;
  head.pin = fields.pin;
  head.sec_fetch_mode = fields.sec_fetch_mode;

  f.handler.handle(head, f.reply, f.scratch);
  const edge::Reply& r = f.reply;
  check(r.status >= 200 && r.status <= 599, "the reply has a status");
  if (!r.omit_body && !r.file.valid() && head.method != edge::Method::head) {
    check(r.body.size() == r.content_length, "Content-Length is the size of the body sent");
  }
  std::string out;
  edge::appendHead(out, r, true, head.http10);
  // The head is lines ending in CRLF and nothing else: no field a request or a rule shaped can
  // split it.
  check(out.size() >= 4 && out.ends_with("\r\n\r\n"), "the head ends with an empty line");
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\r') check(i + 1 < out.size() && out[i + 1] == '\n', "CR only before LF");
    if (out[i] == '\n') check(i > 0 && out[i - 1] == '\r', "LF only after CR");
    if (out[i] == '\0') check(false, "no NUL in a response head");
  }
  return 0;
}
