#include "common/curl.h"

#include <mutex>

namespace cutover {

void curlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void setUpEasy(CURL* curl, const CurlBasics& basics) {
  curl_easy_setopt(curl, CURLOPT_URL, basics.url);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(basics.connect_timeout.count()));
  if (basics.stall.count() > 0) {
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(basics.stall.count()));
  }
  if (basics.error != nullptr) {
    basics.error[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, basics.error);
  }
  if (basics.direct) curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
}

std::string curlProblem(CURLcode code, const char* error) {
  return error != nullptr && *error != '\0' ? std::string(error) : curl_easy_strerror(code);
}

}  // namespace cutover
