#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/http.h"
#include "cutover/common/result.h"
#include "runs/history.h"

namespace cutover::api {

// The error's "code" in answers: the Errc's name in snake_case ("not_found", "too_large").
[[nodiscard]] std::string_view codeFor(Errc code);

// {"error": {"code": codeFor(code), "message": message}} with statusFor(code) (common/http.h),
// plus `extra` members beside "error". Every failure an Errc names is answered so.
void sendError(ResponseWriter& out, Errc code, std::string_view message,
               const nlohmann::json& extra = nlohmann::json::object());
void sendError(ResponseWriter& out, const Error& error,
               const nlohmann::json& extra = nlohmann::json::object());
// The same for the answers no Errc names (401, 403, 405, 415, 429, a route's unexpected 500).
void sendError(ResponseWriter& out, int status, std::string_view code, std::string_view message,
               const nlohmann::json& extra = nlohmann::json::object(),
               const ExtraHeaders& headers = {});
void sendJson(ResponseWriter& out, int status, const nlohmann::json& body);

// Reads a whole body of at most `limit` bytes (too_large beyond; io if the client broke off).
[[nodiscard]] Result<std::string> readBody(const HttpRequest& request, BodyReader& body,
                                           std::uint64_t limit);

// Reads a JSON object body: too_large beyond `limit`, invalid_argument (saying where) if it is
// not valid JSON or not an object. An absent body is an empty object.
[[nodiscard]] Result<nlohmann::json> readJsonObject(const HttpRequest& request, BodyReader& body,
                                                    std::uint64_t limit);

// The value of `name` in a query string ("a=1&b=2"), if present. Values are not decoded: the
// API's parameters are numbers and flags.
[[nodiscard]] std::optional<std::string> queryParam(std::string_view query, std::string_view name);

}  // namespace cutover::api
