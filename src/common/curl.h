#pragma once

#include <curl/curl.h>

#include <chrono>
#include <string>

namespace cutover {

// libcurl as every client here uses it (S3, etcd, the remote deploy's API client).

// curl_global_init, once per process, before the first handle.
void curlGlobalInit();

// What every transfer sets the same way.
struct CurlBasics {
  const char* url = nullptr;
  std::chrono::milliseconds connect_timeout{10'000};
  // Fail a transfer that moves no byte for this long (0: never); a slow one that moves goes on.
  std::chrono::seconds stall{0};
  char* error = nullptr;  // CURL_ERROR_SIZE bytes for curl's message, or null
  bool direct = false;    // ignore proxy settings from the environment
};

// URL, no signals (the handles are used from many threads), the connect timeout, stall
// detection and the error buffer.
void setUpEasy(CURL* curl, const CurlBasics& basics);

// What went wrong: curl's message for this transfer if it wrote one, else the code's.
std::string curlProblem(CURLcode code, const char* error);

}  // namespace cutover
