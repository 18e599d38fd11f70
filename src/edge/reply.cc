#include "edge/reply.h"

#include <charconv>
#include <ctime>

#include "cutover/common/http.h"

namespace cutover::edge {

void Reply::reset() {
  status = 200;
  content_type = {};
  etag = {};
  cache_control = {};
  version = {};
  log_site = {};
  log_version = {};
  last_modified = {};
  content_encoding = {};
  vary_encoding = false;
  vary_pin = false;
  accept_ranges = false;
  noindex = false;
  alias_page = false;
  access_checked = false;
  content_range.clear();
  set_cookie.clear();
  location.clear();
  headers.clear();
  allow = false;
  close = false;
  content_length = 0;
  file_offset = 0;
  omit_body = false;
  version_gone = false;
  body = {};
  text.clear();
  own_cache_control.clear();
  memory.reset();
  file.reset();
  pin.reset();
  stored.reset();
}

void Reply::setText(int code, std::string_view message) {
  status = code;
  content_type = "text/plain; charset=utf-8";
  text.assign(message);
  text.push_back('\n');
  body = text;
  content_length = text.size();
}

void Reply::replaceWithText(int code, std::string_view message) {
  auto kept_version = version;
  auto kept_site = log_site;
  auto kept_log_version = log_version;
  auto kept_pin = std::move(pin);
  auto kept_stored = std::move(stored);
  reset();
  setText(code, message);
  version = kept_version;
  log_site = kept_site;
  log_version = kept_log_version;
  pin = std::move(kept_pin);
  stored = std::move(kept_stored);
}

namespace {

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void appendNumber(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), n);
  out.append(digits, end);
}

}  // namespace

void appendHead(std::string& out, const Reply& reply, bool keep_alive, bool http10) {
  out.append("HTTP/1.1 ");
  appendNumber(out, static_cast<std::uint64_t>(reply.status));
  out.push_back(' ');
  out.append(reasonPhrase(reply.status));
  out.append("\r\n");
  appendField(out, "Date", httpDateNow());
  if (!reply.content_type.empty()) appendField(out, "Content-Type", reply.content_type);
  if (reply.status != 304 && reply.status != 204) {
    out.append("Content-Length: ");
    appendNumber(out, reply.content_length);
    out.append("\r\n");
  }
  if (!reply.content_encoding.empty()) appendField(out, "Content-Encoding", reply.content_encoding);
  if (!reply.content_range.empty()) appendField(out, "Content-Range", reply.content_range);
  if (reply.accept_ranges) appendField(out, "Accept-Ranges", "bytes");
  if (reply.vary_encoding || reply.vary_pin) {
    appendField(out, "Vary",
                reply.vary_encoding && reply.vary_pin ? "Accept-Encoding, Cookie, X-Cutover-Pin"
                : reply.vary_encoding                 ? "Accept-Encoding"
                                                      : "Cookie, X-Cutover-Pin");
  }
  if (!reply.etag.empty()) appendField(out, "ETag", reply.etag);
  if (!reply.last_modified.empty()) appendField(out, "Last-Modified", reply.last_modified);
  if (!reply.cache_control.empty()) appendField(out, "Cache-Control", reply.cache_control);
  if (!reply.location.empty()) appendField(out, "Location", reply.location);
  if (reply.allow) appendField(out, "Allow", "GET, HEAD");
  if (!reply.version.empty()) appendField(out, "X-Cutover-Version", reply.version);
  if (reply.noindex) appendField(out, "X-Robots-Tag", "noindex");
  if (!reply.set_cookie.empty()) appendField(out, "Set-Cookie", reply.set_cookie);
  for (const auto& [name, value] : reply.headers) appendField(out, name, value);
  if (!keep_alive) {
    appendField(out, "Connection", "close");
  } else if (http10) {
    appendField(out, "Connection", "keep-alive");
  }
  out.append("\r\n");
}

std::string_view utcNow(const char* format, SecondClock& clock) {
  std::time_t now = std::time(nullptr);
  if (now != clock.second) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    clock.length = std::strftime(clock.text, sizeof clock.text, format, &utc);
    clock.second = now;
  }
  return {clock.text, clock.length};
}

std::string_view httpDateNow() {
  thread_local SecondClock clock;
  return utcNow("%a, %d %b %Y %H:%M:%S GMT", clock);
}

}  // namespace cutover::edge
