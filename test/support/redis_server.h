#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace cutover::testing {

// A real redis-server on a free loopback port, with its data in a temp folder and nothing
// persisted (--save "" --appendonly no). The destructor stops it; it is also killed if the test
// process dies. stop() and restart() (same port, empty data) drive outage tests.
class RedisServer {
 public:
  // Starts it and waits until it answers PING. `extra_args` are more redis-server options, such
  // as {"--requirepass", "secret"}. Throws std::runtime_error if it does not come up.
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Whether redis-server ($CUTOVER_REDIS_SERVER, else the one on the PATH) can be run here. If not,
  // records a skip for the running test (or, when $CUTOVER_REQUIRE_SERVICES is 1, a failure) and
  // returns false: the caller returns at once.
  static bool installedOrSkip();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // "redis://127.0.0.1:PORT".
  [[nodiscard]] std::string uri() const;

  // SIGTERMs it and waits until it is gone (SIGKILL after 5 s).
  void stop();
  // Starts it again on the same port, with no data.
  void restart();
  // SIGSTOP / SIGCONT: a server that accepts connections and answers nothing.
  void pause();
  void resume();

 private:
  bool start();  // false if it exited at once (its port was taken meanwhile)

  TempDir dir_;
  std::vector<std::string> extra_args_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace cutover::testing
