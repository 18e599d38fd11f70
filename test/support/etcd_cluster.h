#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace cutover::testing {

// Real etcd members (Debian's etcd-server) on free loopback ports, each with its data in a temp
// folder: one for a single-member store, three for failover tests. The constructor waits until
// every member serves; the destructor kills them all, and they are also killed if the test
// process dies.
//
// Tuned for tests, not for keeping data: heartbeats every 50 ms and elections after 500 ms, so
// a cluster starts and replaces a killed leader in about a second, and --unsafe-no-fsync, since
// what the tests check is what clients see while members run, stop and restart (a kill loses
// nothing the page cache holds; only a power cut would), and fsync would make every write wait
// for the disk.
class EtcdCluster {
 public:
  // Whether etcd can be run here. If not, records a skip for the running test (or, when
  // $CUTOVER_REQUIRE_SERVICES is 1, a failure) and returns false: the caller returns at once.
  static bool installedOrSkip();

  // Starts `members` members (1 or 3) and waits until each answers /health. Throws
  // std::runtime_error, with the members' logs, if they do not come up.
  explicit EtcdCluster(int members = 1);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  [[nodiscard]] int size() const { return static_cast<int>(members_.size()); }
  // "127.0.0.1:PORT": where `member` serves clients.
  [[nodiscard]] std::string endpoint(int member) const;
  [[nodiscard]] std::uint16_t clientPort(int member) const;
  // "etcd://127.0.0.1:P1,127.0.0.1:P2,...[/prefix]": every member.
  [[nodiscard]] std::string uri(const std::string& prefix = {}) const;
  [[nodiscard]] bool running(int member) const { return members_[member].pid > 0; }

  // SIGKILLs `member` and waits until it is gone.
  void kill(int member);
  // Starts `member` again on its ports and data, and waits until it serves.
  void restart(int member);
  // The member that leads the cluster now, waiting up to 10 s for one to be elected.
  [[nodiscard]] int leader();

  // POSTs `body` to `path` on `member`'s JSON gateway (as in {"revision": "5"} to
  // /v3/kv/compaction); the response body, or "" if the request failed.
  std::string post(int member, const std::string& path, const std::string& body);

 private:
  struct Member {
    std::string name;
    std::uint16_t client_port = 0;
    std::uint16_t peer_port = 0;
    pid_t pid = -1;
  };

  void spawn(int member);
  bool waitServing(int member);  // false if it exited
  std::string logs() const;

  TempDir dir_;
  std::string token_;
  std::vector<Member> members_;
};

}  // namespace cutover::testing
