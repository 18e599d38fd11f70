#include "support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace cutover::testing {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

bool sendAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(std::uint16_t target_port) : target_port_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (listener_ < 0 ||
      ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (listener_ >= 0) ::close(listener_);
    throw std::runtime_error("the TCP proxy cannot listen");
  }
  port_ = ntohs(address.sin_port);
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
  thread_.join();
  closeAll();
  ::close(listener_);
  ::close(wake_);
}

void TcpProxy::cut() {
  cut_ = true;
  std::unique_lock lock(mutex_);
  close_requested_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
  // Wait until the thread has closed what was open, so the test knows the client is cut off.
  closed_.wait(lock, [&] { return !close_requested_; });
}

void TcpProxy::restore() { cut_ = false; }

void TcpProxy::holdAfter(std::size_t bytes) { budget_ = bytes; }

void TcpProxy::closeAll() {
  for (auto& pair : pairs_) {
    ::close(pair.client);
    ::close(pair.server);
  }
  pairs_.clear();
}

void TcpProxy::run() {
  std::array<char, 64 * 1024> buffer{};
  while (!stopping_) {
    {
      std::lock_guard lock(mutex_);
      if (close_requested_) {
        closeAll();
        close_requested_ = false;
        closed_.notify_all();
      }
    }
    std::vector<pollfd> fds = {{wake_, POLLIN, 0}, {listener_, POLLIN, 0}};
    bool hold = budget_ == 0;
    for (const auto& pair : pairs_) {
      fds.push_back({pair.client, static_cast<short>(hold ? POLLRDHUP : POLLIN), 0});
      fds.push_back({pair.server, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] auto n = ::read(wake_, &count, sizeof count);
    }
    std::vector<bool> closed(pairs_.size(), false);
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      for (int side = 0; side < 2; ++side) {
        short revents = fds[2 + 2 * i + side].revents;
        if ((revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) == 0) continue;
        int from = side == 0 ? pairs_[i].client : pairs_[i].server;
        int to = side == 0 ? pairs_[i].server : pairs_[i].client;
        std::size_t room = side == 0 ? std::min(buffer.size(), budget_.load()) : buffer.size();
        if (room == 0) {  // held: only a client that went away is noticed
          if ((revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) closed[i] = true;
          continue;
        }
        ssize_t n = ::recv(from, buffer.data(), room, 0);
        if (side == 0 && n > 0) budget_ -= static_cast<std::size_t>(n);
        if (n <= 0 || !sendAll(to, buffer.data(), static_cast<std::size_t>(n))) closed[i] = true;
      }
    }
    for (std::size_t i = pairs_.size(); i-- > 0;) {
      if (!closed[i]) continue;
      ::close(pairs_[i].client);
      ::close(pairs_[i].server);
      pairs_.erase(pairs_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if ((fds[1].revents & POLLIN) != 0) {
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      if (cut_) {
        ::close(client);
        continue;
      }
      int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in target = loopback(target_port_);
      if (server < 0 ||
          ::connect(server, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
        ::close(client);
        if (server >= 0) ::close(server);
        continue;
      }
      pairs_.push_back({client, server});
    }
  }
}

}  // namespace cutover::testing
