#pragma once

// A tiny blocking HTTP/1.1 client over a raw TCP socket, for the edge's socket tests: it sends
// exactly the bytes a test writes, so hostile requests reach the server unaltered.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cutover::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;

  [[nodiscard]] bool has(const std::string& name) const { return headers.contains(name); }
  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  // Connects to 127.0.0.1:port. `receive_buffer` > 0 shrinks the socket's receive buffer.
  // `source`: the client's own address, another loopback one such as "127.0.0.2", so one test
  // can speak as several clients.
  explicit HttpClient(std::uint16_t port, int receive_buffer = 0, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    if (source != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      if (::inet_pton(AF_INET, source, &local.sin_addr) != 1 ||
          ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
        ::close(fd_);
        throw std::runtime_error("bind");
      }
    }
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect");
    }
  }
  ~HttpClient() { ::close(fd_); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // "GET <target> HTTP/1.1" with Host and `extra` header lines (each ending in \r\n).
  void sendGet(std::string_view target, std::string_view host = "docs.localhost",
               std::string_view extra = "", std::string_view method = "GET") {
    send(std::string(method) + " " + std::string(target) +
         " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n" + std::string(extra) + "\r\n");
  }

  RawResponse get(std::string_view target, std::string_view host = "docs.localhost",
                  std::string_view extra = "") {
    sendGet(target, host, extra);
    return read();
  }

  // Reads one response; `no_body`: it answers a HEAD (the length describes a body not sent).
  // `max_body`: stop after this many body bytes (the rest stays unread in the socket).
  RawResponse read(bool no_body = false, std::size_t max_body = SIZE_MAX) {
    RawResponse r;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) throw std::runtime_error("connection closed before a response head");
    }
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      std::size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
      pos = next + 2;
    }
    if (no_body || r.status == 304 || r.status == 204) return r;
    std::size_t length =
        std::stoull(r.header("content-length").empty() ? "0" : r.header("content-length"));
    std::size_t want = std::min(length, max_body);
    while (buffer_.size() < want) {
      if (!fill()) throw std::runtime_error("connection closed in a response body");
    }
    r.body = buffer_.substr(0, want);
    buffer_.erase(0, want);
    remaining_ = length - want;
    return r;
  }

  // Reads the rest of a body left unread by read(max_body).
  std::string readRest() {
    while (buffer_.size() < remaining_) {
      if (!fill()) throw std::runtime_error("connection closed in a response body");
    }
    std::string rest = buffer_.substr(0, remaining_);
    buffer_.erase(0, remaining_);
    remaining_ = 0;
    return rest;
  }

  // True if the server has closed the connection already (without waiting).
  bool closedNow() {
    if (!buffer_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // True if the server closed the connection (and sent nothing more) within the receive timeout.
  bool closedByServer() {
    if (!buffer_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  std::size_t remaining_ = 0;
};

}  // namespace cutover::testing
