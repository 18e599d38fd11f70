// S3ObjectStore's HTTP behaviour against a scripted HTTP server on loopback: what it retries,
// what it does not, how long it takes to give up, and the messages it gives.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cutover/common/hash.h"
#include "store/s3/s3_object_store.h"

namespace cutover {
namespace {

using namespace std::chrono_literals;

struct Received {
  std::string method;
  std::string target;
  std::string headers;  // the raw header block, lowercased
  std::string body;
};

struct Answer {
  int status = 200;
  std::string body;
  std::string headers;  // extra "Name: value\r\n" lines
  bool silent = false;  // read the request, answer nothing, keep the connection open
};

// An HTTP/1.1 server on 127.0.0.1 that answers each request with what `script` returns for it
// (given the request and its number, from 0), and records every request.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<Answer(const Received&, int)> script)
      : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }

  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : handlers_) t.join();
    for (int fd : connections_) ::close(fd);
    ::close(listener_);
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }

  std::vector<Received> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

  // Connections accepted so far.
  std::size_t connections() {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }

 private:
  void acceptLoop() {
    while (!stopping_) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard lock(mutex_);
      connections_.push_back(fd);
      handlers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string buffer;
    char chunk[65536];
    while (!stopping_) {
      auto end = buffer.find("\r\n\r\n");
      while (end == std::string::npos) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
        end = buffer.find("\r\n\r\n");
      }
      Received request;
      std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      auto line_end = head.find("\r\n");
      std::string line = head.substr(0, line_end);
      request.method = line.substr(0, line.find(' '));
      request.target = line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1);
      request.headers = head.substr(line_end == std::string::npos ? head.size() : line_end);
      for (auto& c : request.headers)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::size_t length = 0;
      if (auto at = request.headers.find("content-length:"); at != std::string::npos) {
        length = std::stoul(request.headers.substr(at + 15));
      }
      while (buffer.size() < length) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      int index = 0;
      {
        std::lock_guard lock(mutex_);
        index = static_cast<int>(received_.size());
        received_.push_back(request);
      }
      Answer answer = script_(request, index);
      if (answer.silent) {
        while (!stopping_ && ::recv(fd, chunk, sizeof chunk, 0) > 0) {
        }
        return;
      }
      std::string body = request.method == "HEAD" ? std::string() : answer.body;
      std::string response = "HTTP/1.1 " + std::to_string(answer.status) + " X\r\n" +
                             "Content-Length: " + std::to_string(answer.body.size()) + "\r\n" +
                             answer.headers + "\r\n" + body;
      if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  std::function<Answer(const Received&, int)> script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> handlers_;
  std::vector<Received> received_;
};

S3Config configFor(std::uint16_t port, unsigned retries = 4) {
  S3Config c;
  c.bucket = "bucket";
  c.prefix = "p/";
  c.scheme = "http";
  c.host = "127.0.0.1:" + std::to_string(port);
  c.region = "us-east-1";
  c.access_key = "AKIDEXAMPLE";
  c.secret_key = "wJalrXUtnFEMI";
  c.retries = retries;
  c.timeout = 1000ms;
  return c;
}

std::string xmlError(std::string_view code) {
  return "<?xml version=\"1.0\"?><Error><Code>" + std::string(code) +
         "</Code><Message></Message></Error>";
}

Result<StoredBlob> put(ObjectStore& store, std::string_view bytes) {
  auto writer = store.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  if (auto ok = (*writer)->write(std::as_bytes(std::span(bytes.data(), bytes.size()))); !ok) {
    return tl::unexpected(ok.error());
  }
  return (*writer)->finish();
}

TEST(S3Client, RetriesA503AndSucceedsOnTheThirdAttempt) {
  ScriptedServer server([](const Received&, int n) {
    return n < 2 ? Answer{503, xmlError("SlowDown")} : Answer{200};
  });
  S3ObjectStore store(configFor(server.port()));
  auto stored = put(store, "hello");
  ASSERT_TRUE(stored) << stored.error().describe();
  EXPECT_TRUE(stored->created);
  auto requests = server.received();
  ASSERT_EQ(requests.size(), 3U);
  for (const auto& r : requests) {
    // The same conditional, signed PUT each time, with the whole body.
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(r.target, "/bucket/p/blobs/" + sha256Hex("hello"));
    EXPECT_EQ(r.body, "hello");
    EXPECT_NE(r.headers.find("if-none-match: *"), std::string::npos);
    EXPECT_NE(r.headers.find("authorization: aws4-hmac-sha256 credential=akidexample/"),
              std::string::npos)
        << r.headers;
    EXPECT_NE(r.headers.find("x-amz-content-sha256: " + sha256Hex("hello")), std::string::npos);
  }
}

TEST(S3Client, RetriesA429) {
  ScriptedServer server([](const Received&, int n) { return n == 0 ? Answer{429} : Answer{200}; });
  S3ObjectStore store(configFor(server.port()));
  EXPECT_TRUE(store.flush());
  EXPECT_TRUE(store.deleteBlob(sha256Hex("x")));
  EXPECT_EQ(server.received().size(), 2U);
}

TEST(S3Client, NeverRetriesA4xx) {
  for (int status : {400, 403, 404, 409}) {
    ScriptedServer server([status](const Received&, int) {
      return Answer{status, xmlError(status == 403 ? "SignatureDoesNotMatch" : "Bad")};
    });
    S3ObjectStore store(configFor(server.port()));
    auto read = store.readBlob(sha256Hex("x"));
    ASSERT_FALSE(read);
    EXPECT_EQ(server.received().size(), 1U) << status;
    if (status == 404) {
      EXPECT_EQ(read.error().code, Errc::not_found);
    }
  }
}

TEST(S3Client, RefusedCredentialsSaySo) {
  ScriptedServer server([](const Received&, int) {
    return Answer{403, xmlError("InvalidAccessKeyId")};
  });
  S3ObjectStore store(configFor(server.port()));
  auto listed = store.listBlobs();
  ASSERT_FALSE(listed);
  const std::string& message = listed.error().message;
  EXPECT_NE(message.find("refused the credentials"), std::string::npos) << message;
  EXPECT_NE(message.find("InvalidAccessKeyId"), std::string::npos) << message;
  EXPECT_NE(message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << message;
  EXPECT_EQ(message.find("wJalrXUtnFEMI"), std::string::npos) << "the secret leaked: " << message;
}

TEST(S3Client, AMissingBucketIsNamedAndIsNotAMissingKey) {
  ScriptedServer server([](const Received&, int) { return Answer{404, xmlError("NoSuchBucket")}; });
  S3ObjectStore store(configFor(server.port()));
  auto read = store.readManifest("docs", "v1");
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().code, Errc::not_found);
  EXPECT_NE(read.error().message.find("bucket bucket does not exist"), std::string::npos)
      << read.error().message;
  // Deleting from a bucket that is not there is not "gone already".
  EXPECT_FALSE(store.deleteBlob(sha256Hex("x")));
}

TEST(S3Client, GivesUpAfterTheRetriesWithUnavailable) {
  ScriptedServer server([](const Received&, int) { return Answer{503, xmlError("SlowDown")}; });
  S3ObjectStore store(configFor(server.port(), 2));
  auto listed = store.listSites();
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Errc::unavailable);
  EXPECT_NE(listed.error().message.find("503 SlowDown"), std::string::npos)
      << listed.error().message;
  EXPECT_NE(listed.error().message.find("3 attempts"), std::string::npos) << listed.error().message;
  EXPECT_EQ(server.received().size(), 3U);
}

TEST(S3Client, NobodyListeningIsUnavailableWithinSeconds) {
  std::uint16_t port = 0;
  {
    ScriptedServer gone([](const Received&, int) { return Answer{}; });
    port = gone.port();
  }
  S3ObjectStore store(configFor(port));
  auto start = std::chrono::steady_clock::now();
  auto stored = put(store, "x");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::unavailable);
  EXPECT_NE(stored.error().message.find("could not be reached"), std::string::npos)
      << stored.error().message;
  EXPECT_LT(took, 10s);  // 4 retries back off at most 0.1 + 0.2 + 0.4 + 0.8 s
}

TEST(S3Client, AServerThatNeverAnswersTimesOut) {
  ScriptedServer server([](const Received&, int) { return Answer{.silent = true}; });
  S3ObjectStore store(configFor(server.port(), 1));
  auto start = std::chrono::steady_clock::now();
  auto missing = store.missing(std::vector<std::string>{sha256Hex("a")});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::unavailable);
  EXPECT_EQ(server.received().size(), 2U);
  EXPECT_LT(took, 10s);  // two attempts of timeout_ms=1000 (curl counts in whole seconds)
}

TEST(S3Client, ManyHeadsGoOutInParallelOverFewConnections) {
  std::atomic<int> in_flight{0};
  std::atomic<int> most{0};
  ScriptedServer server([&](const Received&, int) {
    int now = ++in_flight;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(20ms);
    --in_flight;
    return Answer{404};
  });
  auto config = configFor(server.port());
  config.parallel = 8;
  S3ObjectStore store(config);
  std::vector<std::string> hashes;
  for (int i = 0; i < 40; ++i) hashes.push_back(sha256Hex(std::to_string(i)));
  auto start = std::chrono::steady_clock::now();
  auto missing = store.missing(hashes);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(missing) << missing.error().describe();
  EXPECT_EQ(*missing, hashes);
  EXPECT_GT(most.load(), 1);
  EXPECT_LE(most.load(), 8);
  EXPECT_LT(took, 40 * 20ms);  // not one after another
  // The same connections serve the next call.
  ASSERT_TRUE(store.missing(hashes));
  EXPECT_EQ(server.received().size(), 80U);
  EXPECT_LE(server.connections(), 8U);
}

TEST(S3Client, AnErrorInsideA200CompleteFailsTheMultipartUpload) {
  ScriptedServer server([](const Received& r, int) {
    if (r.method == "HEAD") return Answer{404};
    if (r.method == "POST" && r.target.find("uploads") != std::string::npos) {
      return Answer{
          200,
          "<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>"};
    }
    if (r.method == "PUT") return Answer{200, "", "ETag: \"e\"\r\n"};
    if (r.method == "POST") return Answer{200, xmlError("InternalError")};
    return Answer{204};  // the abort
  });
  auto config = configFor(server.port(), 0);
  config.multipart_above = 1;
  config.part_size = 5ULL << 20;
  S3ObjectStore store(config);
  auto stored = put(store, std::string(6 << 20, 'x'));
  ASSERT_FALSE(stored);
  EXPECT_NE(stored.error().message.find("InternalError"), std::string::npos)
      << stored.error().message;
  auto requests = server.received();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().method, "DELETE");  // the upload is aborted
  EXPECT_NE(requests.back().target.find("uploadId=u1"), std::string::npos);
}

}  // namespace
}  // namespace cutover
