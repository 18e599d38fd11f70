#include "support/etcd_cluster.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace cutover::testing {
namespace {

using namespace std::chrono_literals;

std::optional<std::string> findEtcd() {
  std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  dirs += ":/usr/bin:/usr/sbin:/usr/local/bin";
  std::stringstream stream(dirs);
  std::string dir;
  while (std::getline(stream, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/etcd";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// A port nobody listens on now; etcd binds it next (a start that loses the race retries).
std::uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// One request to a member's gateway: the body on HTTP 200, else nullopt.
std::optional<std::string> request(std::uint16_t port, const std::string& path,
                                   const std::string* post_body) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  if (post_body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->c_str());
  }
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK || status != 200) return std::nullopt;
  return body;
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

bool EtcdCluster::installedOrSkip() {
  if (findEtcd()) return true;
  const char* required = std::getenv("CUTOVER_REQUIRE_SERVICES");
  std::string message =
      "etcd is not installed (scripts/install-deps installs etcd-server): the etcd tests did NOT "
      "run";
  if (required != nullptr && std::string_view(required) == "1") {
    [&] { FAIL() << message << ", and CUTOVER_REQUIRE_SERVICES=1 requires them"; }();
  } else {
    [&] { GTEST_SKIP() << message; }();
  }
  return false;
}

EtcdCluster::EtcdCluster(int members) {
  if (members < 1) throw std::invalid_argument("an etcd cluster needs a member");
  static std::atomic<int> clusters = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    // A token of its own, so members of another test's cluster can never join this one.
    token_ = "cutover-test-" + std::to_string(::getpid()) + "-" + std::to_string(clusters++);
    members_.assign(static_cast<std::size_t>(members), Member{});
    for (int i = 0; i < members; ++i) {
      members_[i].name = "m" + std::to_string(i);
      members_[i].client_port = freePort();
      members_[i].peer_port = freePort();
      std::filesystem::remove_all(dir_ / members_[i].name);
    }
    for (int i = 0; i < members; ++i) spawn(i);
    bool up = true;
    for (int i = 0; i < members && up; ++i) up = waitServing(i);
    if (up) return;
    // A member exited: most likely a port was taken between freePort() and etcd's bind.
    for (int i = 0; i < members; ++i) kill(i);
  }
  throw std::runtime_error("etcd did not start; the members' logs:\n" + logs());
}

EtcdCluster::~EtcdCluster() {
  for (int i = 0; i < size(); ++i) kill(i);
}

std::string EtcdCluster::endpoint(int member) const {
  return "127.0.0.1:" + std::to_string(members_[member].client_port);
}

std::uint16_t EtcdCluster::clientPort(int member) const { return members_[member].client_port; }

std::string EtcdCluster::uri(const std::string& prefix) const {
  std::string out = "etcd://";
  for (int i = 0; i < size(); ++i) {
    if (i > 0) out += ",";
    out += endpoint(i);
  }
  if (!prefix.empty()) out += "/" + prefix;
  return out;
}

void EtcdCluster::spawn(int member) {
  auto binary = findEtcd();
  if (!binary) throw std::runtime_error("etcd is not installed");
  auto url = [](std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); };
  std::string cluster;
  for (const auto& m : members_) {
    if (!cluster.empty()) cluster += ",";
    cluster += m.name + "=" + url(m.peer_port);
  }
  const Member& m = members_[member];
  std::vector<std::string> args = {*binary,
                                   "--name",
                                   m.name,
                                   "--data-dir",
                                   (dir_ / m.name).string(),
                                   "--listen-client-urls",
                                   url(m.client_port),
                                   "--advertise-client-urls",
                                   url(m.client_port),
                                   "--listen-peer-urls",
                                   url(m.peer_port),
                                   "--initial-advertise-peer-urls",
                                   url(m.peer_port),
                                   "--initial-cluster",
                                   cluster,
                                   "--initial-cluster-token",
                                   token_,
                                   "--initial-cluster-state",
                                   "new",
                                   "--heartbeat-interval",
                                   "50",
                                   "--election-timeout",
                                   "500",
                                   "--unsafe-no-fsync",
                                   "--logger",
                                   "zap",
                                   "--log-outputs",
                                   "stderr",
                                   "--log-level",
                                   "warn"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string log = (dir_ / (m.name + ".log")).string();

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Gone with the test process, however it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int null = ::open("/dev/null", O_RDWR);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  members_[member].pid = pid;
}

bool EtcdCluster::waitServing(int member) {
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(members_[member].pid, &status, WNOHANG) == members_[member].pid) {
      members_[member].pid = -1;
      return false;
    }
    // /health is true once the member has a leader and can serve a linearizable read.
    auto health = request(members_[member].client_port, "/health", nullptr);
    if (health && health->find("\"true\"") != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("etcd member " + members_[member].name +
                           " did not become healthy within 15 s; the members' logs:\n" + logs());
}

void EtcdCluster::kill(int member) {
  pid_t pid = members_[member].pid;
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  reap(pid);
  members_[member].pid = -1;
}

void EtcdCluster::restart(int member) {
  kill(member);
  spawn(member);  // its data folder makes it rejoin as the member it was
  if (!waitServing(member)) {
    throw std::runtime_error("etcd member " + members_[member].name +
                             " exited on restart; the members' logs:\n" + logs());
  }
}

int EtcdCluster::leader() {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < size(); ++i) {
      if (!running(i)) continue;
      const std::string empty = "{}";
      auto status = request(members_[i].client_port, "/v3/maintenance/status", &empty);
      if (!status) continue;
      auto json = nlohmann::json::parse(*status, nullptr, false);
      if (json.is_discarded() || !json.contains("header")) continue;
      auto me = json["header"].value("member_id", "");
      auto leader = json.value("leader", "");
      if (!me.empty() && me == leader) return i;
    }
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("no etcd member leads after 10 s; the members' logs:\n" + logs());
}

std::string EtcdCluster::post(int member, const std::string& path, const std::string& body) {
  return request(members_[member].client_port, path, &body).value_or("");
}

std::string EtcdCluster::logs() const {
  std::string out;
  for (const auto& m : members_) {
    std::string log = readFile(dir_ / (m.name + ".log"));
    if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
    out += "--- " + m.name + "\n" + log;
  }
  return out;
}

}  // namespace cutover::testing
