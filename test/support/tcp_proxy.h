#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace cutover::testing {

// A TCP proxy from a free loopback port to a server's loopback port, to cut a client off from a
// server while both keep running: what a network partition or a lost connection looks like to
// the client, at a moment the test chooses.
class TcpProxy {
 public:
  explicit TcpProxy(std::uint16_t target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }

  // Closes every connection through the proxy, and closes new ones as soon as they are accepted,
  // until restore().
  void cut();
  void restore();

  // Forwards at most `bytes` more from clients to the server, then holds everything else they
  // send (connections stay open; answers still come back): a client stalled mid-upload at a
  // point the test chooses, whatever the speed of the machine.
  void holdAfter(std::size_t bytes);
  // Whether the budget given to holdAfter() is spent.
  [[nodiscard]] bool holding() const { return budget_ == 0; }

 private:
  struct Pair {
    int client;
    int server;
  };
  void run();
  void closeAll();

  std::uint16_t target_port_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  int wake_ = -1;  // eventfd: cut() and the destructor interrupt poll()
  std::atomic<bool> cut_ = false;
  std::atomic<bool> stopping_ = false;
  std::atomic<std::size_t> budget_ = SIZE_MAX;  // client-to-server bytes still to forward
  std::mutex mutex_;
  std::condition_variable closed_;
  bool close_requested_ = false;  // by cut(); the thread closes every pair and clears it
  std::vector<Pair> pairs_;       // the thread's own
  std::thread thread_;
};

}  // namespace cutover::testing
