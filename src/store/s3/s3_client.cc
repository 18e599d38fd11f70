#include "store/s3/s3_client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "common/backoff.h"
#include "common/curl.h"
#include "store/s3/s3_xml.h"

namespace cutover {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const Backoff kRetryBackoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000),
                            Backoff::Jitter::full);
constexpr std::size_t kMaxIdleLanes = 16;

bool retryableStatus(long status) {
  return status == 429 || (status >= 500 && status != 501 && status != 505);
}

// Network trouble worth another attempt; the rest (a bad URL, a local read or write failure, a
// certificate that does not verify) fails the same way every time.
bool retryableCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_WEIRD_SERVER_REPLY:
      return true;
    default:
      return false;
  }
}

std::string describeAttempts(unsigned attempts, Clock::time_point start) {
  auto took = std::chrono::duration<double>(Clock::now() - start).count();
  return attempts == 1 ? fmt::format("1 attempt, {:.1f} s", took)
                       : fmt::format("{} attempts over {:.1f} s", attempts, took);
}

// One request on its way: the state its callbacks see.
struct Transfer {
  const S3Request* request = nullptr;
  S3Response response;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url;
  std::uint64_t read_at = 0;  // body bytes handed to curl in this attempt
  bool local_failure = false;
  std::string local_error;
  char error[CURL_ERROR_SIZE] = {};
  Clock::time_point started;
  Clock::time_point retry_at;
  std::optional<Result<S3Response>> result;

  void resetForAttempt() {
    response.status = 0;
    response.body.clear();
    response.body_size = 0;
    response.headers.clear();
    read_at = 0;
    error[0] = '\0';
    if (request->response_fd >= 0 && ::ftruncate(request->response_fd, 0) != 0) {
      local_failure = true;
      local_error = fmt::format("truncate the download file: {}", std::strerror(errno));
    }
  }
};

std::size_t onRead(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const S3Request& r = *t.request;
  std::size_t room = size * count;
  if (r.body_fd < 0) {
    std::size_t n = std::min<std::size_t>(room, r.body.size() - t.read_at);
    std::memcpy(buffer, r.body.data() + t.read_at, n);
    t.read_at += n;
    return n;
  }
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(room, r.body_size - t.read_at));
  if (n == 0) return 0;
  while (true) {
    ssize_t got = ::pread(r.body_fd, buffer, n, static_cast<off_t>(r.body_offset + t.read_at));
    if (got > 0) {
      t.read_at += static_cast<std::uint64_t>(got);
      return static_cast<std::size_t>(got);
    }
    if (got < 0 && errno == EINTR) continue;
    t.local_failure = true;
    t.local_error = got == 0 ? std::string("the file to upload is shorter than expected")
                             : fmt::format("read the file to upload: {}", std::strerror(errno));
    return CURL_READFUNC_ABORT;
  }
}

int onSeek(void* user, curl_off_t offset, int origin) {
  auto& t = *static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  t.read_at = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

std::size_t onWrite(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  std::size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  int fd = t.request->response_fd;
  if (fd >= 0 && status >= 200 && status < 300) {
    std::size_t done = 0;
    while (done < n) {
      ssize_t w =
          ::pwrite(fd, data + done, n - done, static_cast<off_t>(t.response.body_size + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        t.local_failure = true;
        t.local_error = fmt::format("write the download file: {}", std::strerror(errno));
        return 0;  // aborts the transfer
      }
      done += static_cast<std::size_t>(w);
    }
  } else {
    t.response.body.append(data, n);
  }
  t.response.body_size += n;
  return n;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  std::size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {  // a new response (after a 100, or a retry): start over
    t.response.headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t.response.headers.emplace_back(std::move(name), std::string(value));
  return n;
}

// What a request sends as its body, and so the payload it is signed with.
bool hasBody(const S3Request& r) {
  return r.body_fd >= 0 || !r.body.empty() || r.method == "PUT" || r.method == "POST";
}

// A service may answer a request early (radosgw does, refusing a signature) and leave the body it
// did not read in the connection, where it would prefix the next request on it. Shut the
// connection down: curl sees it dead and opens a fresh one next time.
void dropConnection(CURL* easy) {
  curl_socket_t socket = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK &&
      socket != CURL_SOCKET_BAD) {
    ::shutdown(socket, SHUT_RDWR);
  }
}

}  // namespace

std::string S3Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return {};
}

struct S3Client::Lane {
  CURLM* multi = nullptr;
  std::vector<CURL*> idle;

  explicit Lane(long max_connections) : multi(curl_multi_init()) {
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_connections);
  }
  ~Lane() {
    for (CURL* easy : idle) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi);
  }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  CURL* take() {
    if (idle.empty()) return curl_easy_init();
    CURL* easy = idle.back();
    idle.pop_back();
    curl_easy_reset(easy);
    return easy;
  }
};

S3Client::S3Client(S3Config config)
    : config_(std::move(config)), sigv4_(fmt::format("aws:amz:{}:s3", config_.region)) {
  curlGlobalInit();
}

S3Client::~S3Client() = default;

std::unique_ptr<S3Client::Lane> S3Client::takeLane() {
  {
    std::lock_guard lock(lanes_mutex_);
    if (!idle_lanes_.empty()) {
      auto lane = std::move(idle_lanes_.back());
      idle_lanes_.pop_back();
      return lane;
    }
  }
  return std::make_unique<Lane>(static_cast<long>(config_.parallel) + 4);
}

void S3Client::giveBack(std::unique_ptr<Lane> lane) {
  std::lock_guard lock(lanes_mutex_);
  if (idle_lanes_.size() < kMaxIdleLanes) idle_lanes_.push_back(std::move(lane));
}

Result<S3Response> S3Client::send(const S3Request& request) {
  auto results = sendAll(std::span(&request, 1));
  return std::move(results.front());
}

// One sendAll call: its transfers run on one lane, at most `parallel` at once; a transfer that
// fails in a way worth retrying waits out its backoff, then queues up again.
class S3Client::Batch {
 public:
  Batch(const S3Client& client, Lane& lane, std::span<const S3Request> requests,
        unsigned max_parallel)
      : config_(client.config_),
        sigv4_(client.sigv4_),
        lane_(lane),
        transfers_(requests.size()),
        parallel_(max_parallel != 0 ? max_parallel : std::max(1U, config_.parallel)) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      transfers_[i].request = &requests[i];
      ready_.push_back(i);
    }
  }
  ~Batch() {
    for (auto& t : transfers_) curl_slist_free_all(t.headers);
  }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  std::vector<Result<S3Response>> run() {
    while (finished_ < transfers_.size()) {
      requeueDue();
      while (active_ < parallel_ && !ready_.empty()) {
        start(transfers_[ready_.front()]);
        ready_.pop_front();
      }
      int running = 0;
      curl_multi_perform(lane_.multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(lane_.multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        Transfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
        finish(*t, msg->data.result);
      }
      if (finished_ == transfers_.size()) break;
      if (active_ < parallel_ && !ready_.empty()) continue;
      waitForWork();
    }
    std::vector<Result<S3Response>> out;
    out.reserve(transfers_.size());
    for (auto& t : transfers_) out.push_back(std::move(*t.result));
    return out;
  }

 private:
  // One attempt of `t`: a fresh handle from the lane, set up and added to it.
  void start(Transfer& t) {
    t.easy = lane_.take();
    t.resetForAttempt();
    ++t.response.attempts;
    if (t.response.attempts == 1) t.started = Clock::now();
    t.url = config_.url(t.request->key, t.request->query);
    setOptions(t);
    setMethod(t);
    setHeaders(t);
    curl_multi_add_handle(lane_.multi, t.easy);
    ++active_;
  }

  void setOptions(Transfer& t) const {
    CURL* e = t.easy;
    const long timeout_s =
        std::max<long>(1, static_cast<long>((config_.timeout.count() + 999) / 1000));
    // A stalled attempt fails after `timeout` without a byte moving; a slow but moving upload of
    // a large blob does not.
    setUpEasy(e, {.url = t.url.c_str(),
                  .connect_timeout = std::min<std::chrono::milliseconds>(config_.timeout,
                                                                         std::chrono::seconds(10)),
                  .stall = std::chrono::seconds(timeout_s),
                  .error = t.error});
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sigv4_.c_str());
    curl_easy_setopt(e, CURLOPT_USERNAME, config_.access_key.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, config_.secret_key.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &onWrite);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &onHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    // curl asks "Expect: 100-continue" before a body over 1 MiB and would wait up to a second for
    // the answer; send the body at once instead. (Removing the header with "Expect:" is no
    // option: curl signs every header it is given, the empty one too, and the signature breaks.)
    curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
  }

  static void setMethod(Transfer& t) {
    CURL* e = t.easy;
    const S3Request& r = *t.request;
    std::uint64_t body_size = r.body_fd >= 0 ? r.body_size : r.body.size();
    if (r.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r.method == "PUT") {
      curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
    } else if (r.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_size));
    } else if (r.method != "GET") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    if (hasBody(r)) {
      curl_easy_setopt(e, CURLOPT_READFUNCTION, &onRead);
      curl_easy_setopt(e, CURLOPT_READDATA, &t);
      curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &onSeek);
      curl_easy_setopt(e, CURLOPT_SEEKDATA, &t);
    }
  }

  void setHeaders(Transfer& t) const {
    const S3Request& r = *t.request;
    curl_slist_free_all(t.headers);
    t.headers = nullptr;
    for (const auto& h : r.headers) t.headers = curl_slist_append(t.headers, h.c_str());
    // curl signs with this value as the payload hash; radosgw refuses a request without it.
    std::string payload = !r.payload_sha256.empty() ? r.payload_sha256
                          : hasBody(r)              ? std::string("UNSIGNED-PAYLOAD")
                                                    : std::string(kEmptySha256);
    t.headers = curl_slist_append(t.headers, ("x-amz-content-sha256: " + payload).c_str());
    if (!config_.session_token.empty()) {
      std::string token = "x-amz-security-token: " + config_.session_token;
      t.headers = curl_slist_append(t.headers, token.c_str());
    }
    bool typed = std::any_of(r.headers.begin(), r.headers.end(), [](const std::string& h) {
      return h.size() > 13 && strncasecmp(h.c_str(), "content-type:", 13) == 0;
    });
    if (r.method == "POST" && !typed) {
      t.headers = curl_slist_append(t.headers, "Content-Type: application/xml");
    }
    curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, t.headers);
  }

  // An attempt is over: its result is final, or it waits for another.
  void finish(Transfer& t, CURLcode code) {
    const S3Request& r = *t.request;
    std::string what = r.what.empty() ? fmt::format("{} {}", r.method, r.key) : r.what;
    long status = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
    bool sent_body = r.body_fd >= 0 ? r.body_size > 0 : !r.body.empty();
    if (code == CURLE_OK && sent_body && (status < 200 || status >= 300)) dropConnection(t.easy);
    curl_multi_remove_handle(lane_.multi, t.easy);
    lane_.idle.push_back(t.easy);
    t.easy = nullptr;
    --active_;
    if (t.local_failure) {
      t.result = fail(Errc::io, fmt::format("{}: {}", what, t.local_error));
    } else if (code != CURLE_OK) {
      std::string problem = curlProblem(code, t.error);
      if (retryableCurlCode(code)) {
        retryOrFail(t, what, "could not be reached: " + problem);
      } else {
        t.result = fail(Errc::io, fmt::format("{}: {}: {}", what, config_.endpoint(), problem));
      }
    } else {
      t.response.status = status;
      if (retryableStatus(status)) {
        auto body = s3xml::parseError(t.response.body);
        retryOrFail(t, what,
                    fmt::format("answered {}{}", status,
                                body && !body->code.empty() ? " " + body->code : std::string()));
      } else {
        t.result = std::move(t.response);
      }
    }
    if (t.result) ++finished_;
  }

  void retryOrFail(Transfer& t, const std::string& what, const std::string& problem) {
    if (t.response.attempts <= config_.retries) {
      t.retry_at = Clock::now() + kRetryBackoff.after(t.response.attempts);
      waiting_.push_back(static_cast<std::size_t>(&t - transfers_.data()));
      return;
    }
    t.result = fail(Errc::unavailable,
                    fmt::format("{}: S3 service {} {} ({})", what, config_.endpoint(), problem,
                                describeAttempts(t.response.attempts, t.started)));
  }

  // Transfers whose backoff is over go back in line.
  void requeueDue() {
    auto now = Clock::now();
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (transfers_[*it].retry_at <= now) {
        ready_.push_back(*it);
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Until a transfer has news or the next backoff ends (a second at most).
  void waitForWork() {
    auto wait = std::chrono::milliseconds(1000);
    if (!waiting_.empty()) {
      auto next = std::min_element(waiting_.begin(), waiting_.end(), [&](auto a, auto b) {
        return transfers_[a].retry_at < transfers_[b].retry_at;
      });
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
          transfers_[*next].retry_at - Clock::now());
      wait = std::clamp(until, std::chrono::milliseconds(0), wait);
    }
    if (active_ > 0) {
      curl_multi_poll(lane_.multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
    } else if (wait.count() > 0) {
      std::this_thread::sleep_for(wait);
    }
  }

  const S3Config& config_;
  const std::string& sigv4_;
  Lane& lane_;
  std::vector<Transfer> transfers_;
  std::deque<std::size_t> ready_;     // to start, in order
  std::vector<std::size_t> waiting_;  // backing off before a retry
  std::size_t parallel_;
  std::size_t active_ = 0;
  std::size_t finished_ = 0;
};

std::vector<Result<S3Response>> S3Client::sendAll(std::span<const S3Request> requests,
                                                  unsigned max_parallel) {
  if (requests.empty()) return {};
  auto lane = takeLane();
  auto results = Batch(*this, *lane, requests, max_parallel).run();
  giveBack(std::move(lane));
  return results;
}

Error S3Client::errorFor(const S3Request& request, const S3Response& response) const {
  std::string what =
      request.what.empty() ? fmt::format("{} {}", request.method, request.key) : request.what;
  auto body = s3xml::parseError(response.body);
  std::string code = body ? body->code : std::string();
  std::string detail =
      code.empty() ? std::to_string(response.status) : fmt::format("{} {}", response.status, code);
  if (body && !body->message.empty()) detail += ": " + body->message;
  if (response.status == 403) {
    return Error{Errc::io,
                 fmt::format("{}: S3 service {} refused the credentials for bucket {} ({}); check "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                             what, config_.endpoint(), config_.bucket, detail)};
  }
  if (response.status == 404 && code == "NoSuchBucket") {
    return Error{Errc::io, fmt::format("{}: bucket {} does not exist at {}", what, config_.bucket,
                                       config_.endpoint())};
  }
  if (response.status == 404) return Error{Errc::not_found, fmt::format("{}: not found", what)};
  return Error{Errc::io,
               fmt::format("{}: S3 service {} answered {}", what, config_.endpoint(), detail)};
}

}  // namespace cutover
