#include "support/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace cutover::testing {
namespace {

using namespace std::chrono_literals;

// $CUTOVER_REDIS_SERVER if set, else redis-server on the PATH or in the usual folders.
std::optional<std::string> findRedisServer() {
  if (const char* chosen = std::getenv("CUTOVER_REDIS_SERVER"); chosen != nullptr) {
    if (::access(chosen, X_OK) == 0) return std::string(chosen);
    return std::nullopt;
  }
  std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  dirs += ":/usr/bin:/usr/sbin:/usr/local/bin";
  std::stringstream stream(dirs);
  std::string dir;
  while (std::getline(stream, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A port nobody listens on now; redis-server binds it next (a start that loses the race retries).
std::uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// True once the server answers an inline PING (with PONG, or NOAUTH when it wants a password).
bool answersPing(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval timeout{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address = loopback(port);
  bool up = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
    char reply[64] = {};
    ssize_t n = ::recv(fd, reply, sizeof reply - 1, 0);
    std::string_view text(reply, n > 0 ? static_cast<std::size_t>(n) : 0);
    up = text.starts_with("+PONG") || text.starts_with("-NOAUTH");
  }
  ::close(fd);
  return up;
}

}  // namespace

bool RedisServer::installedOrSkip() {
  if (findRedisServer()) return true;
  const char* required = std::getenv("CUTOVER_REQUIRE_SERVICES");
  std::string message =
      "redis-server is not installed (scripts/install-deps installs it): the Redis tests did NOT "
      "run";
  if (required != nullptr && std::string_view(required) == "1") {
    [&] { FAIL() << message << ", and CUTOVER_REQUIRE_SERVICES=1 requires them"; }();
  } else {
    [&] { GTEST_SKIP() << message; }();
  }
  return false;
}

RedisServer::RedisServer(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = freePort();
    if (start()) return;
  }
  throw std::runtime_error("redis-server did not start; its log: " + readFile(dir_ / "redis.log"));
}

RedisServer::~RedisServer() { stop(); }

std::string RedisServer::uri() const { return "redis://127.0.0.1:" + std::to_string(port_); }

bool RedisServer::start() {
  auto binary = findRedisServer();
  if (!binary) throw std::runtime_error("redis-server is not installed");
  std::vector<std::string> args = {*binary,
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_.path().string(),
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   (dir_ / "redis.log").string()};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Gone with the test process, however it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (answersPing(port_)) return true;
    std::this_thread::sleep_for(10ms);
  }
  stop();
  throw std::runtime_error("redis-server did not answer PING within 10 s; its log: " +
                           readFile(dir_ / "redis.log"));
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);  // a paused server would not act on SIGTERM
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::restart() {
  stop();
  std::filesystem::remove(dir_ / "dump.rdb");
  if (!start()) {
    throw std::runtime_error("redis-server did not start again on port " + std::to_string(port_) +
                             "; its log: " + readFile(dir_ / "redis.log"));
  }
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

}  // namespace cutover::testing
