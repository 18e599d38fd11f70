#include "api/reply.h"

#include <vector>

#include "cutover/common/http.h"

namespace cutover::api {

std::string_view codeFor(Errc code) {
  // In Errc's order.
  static constexpr std::string_view kCodes[] = {
      "not_found", "already_exists", "conflict",   "invalid_argument", "bad_archive", "too_large",
      "io",        "unavailable",    "interrupted"};
  return kCodes[static_cast<std::size_t>(code)];
}

void sendError(ResponseWriter& out, int status, std::string_view code, std::string_view message,
               const nlohmann::json& extra, const ExtraHeaders& headers) {
  nlohmann::json body = extra;
  body["error"] = {{"code", code}, {"message", message}};
  out.send(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
           "application/json", headers);
}

void sendError(ResponseWriter& out, const Error& error, const nlohmann::json& extra) {
  sendError(out, error.code, error.message, extra);
}

void sendError(ResponseWriter& out, Errc code, std::string_view message,
               const nlohmann::json& extra) {
  sendError(out, statusFor(code), codeFor(code), message, extra);
}

void sendJson(ResponseWriter& out, int status, const nlohmann::json& body) {
  out.send(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<std::string> readBody(const HttpRequest& request, BodyReader& body, std::uint64_t limit) {
  auto tooLarge = [&] {
    return fail(Errc::too_large,
                "the request body is over the limit of " + std::to_string(limit) + " bytes");
  };
  if (request.content_length && *request.content_length > limit) return tooLarge();
  std::string out;
  if (request.content_length) out.reserve(static_cast<std::size_t>(*request.content_length));
  std::vector<std::byte> buffer(64 * 1024);
  while (true) {
    auto n = body.read(buffer);
    if (!n) return tl::unexpected(n.error());
    if (*n == 0) return out;
    if (out.size() + *n > limit) return tooLarge();
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

Result<nlohmann::json> readJsonObject(const HttpRequest& request, BodyReader& body,
                                      std::uint64_t limit) {
  auto text = readBody(request, body, limit);
  if (!text) return tl::unexpected(text.error());
  if (text->empty()) return nlohmann::json::object();
  nlohmann::json parsed;
  // The one place request JSON is parsed. Besides parse_error, nlohmann throws out_of_range for a
  // number past a double (1e999999); every kind is the client's mistake, none may escape.
  try {
    parsed = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 9: ...".
    std::string what = e.what();
    auto at = what.find("] ");
    return fail(Errc::invalid_argument, "the body is not valid JSON: " +
                                            (at == std::string::npos ? what : what.substr(at + 2)));
  }
  if (!parsed.is_object()) return fail(Errc::invalid_argument, "the body must be a JSON object");
  return parsed;
}

std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace cutover::api
