// `cutover doctor` against real stores: it passes where everything answers, and where something
// does not it says which part, and why, and exits 1.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "support/etcd_cluster.h"
#include "support/git_fixture.h"
#include "support/process.h"
#include "support/redis_server.h"
#include "support/s3_server.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::RunResult;
using testing::TempDir;

// A loopback port nothing listens on (bound, then closed).
std::uint16_t closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

// The line of the report about `what` ("object store", "pointer store", "site docs").
std::string lineAbout(const std::string& out, const std::string& what) {
  for (std::size_t at = 0; at < out.size();) {
    auto end = out.find('\n', at);
    std::string line = out.substr(at, end - at);
    if (line.size() > 6 && line.substr(6).starts_with(what)) return line;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

class DoctorTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string data_ = (dir_ / "data").string();

  RunResult doctor(const std::string& store, const std::string& pointers,
                   std::vector<std::string> extra = {}) {
    if (store.empty()) {
      ::unsetenv("CUTOVER_STORE");
    } else {
      ::setenv("CUTOVER_STORE", store.c_str(), 1);
    }
    if (pointers.empty()) {
      ::unsetenv("CUTOVER_POINTERS");
    } else {
      ::setenv("CUTOVER_POINTERS", pointers.c_str(), 1);
    }
    std::vector<std::string> args{"--data-dir", data_};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"doctor", "--timeout", "5"});
    auto r = testing::runCutover(args);
    ::unsetenv("CUTOVER_STORE");
    ::unsetenv("CUTOVER_POINTERS");
    return r;
  }
};

TEST_F(DoctorTest, TheDataFolderStoresPassAndSitesAreChecked) {
  testing::GitRepo repo(dir_.path());
  repo.commit("true\n", "First");
  repo.push();
  auto config = dir_ / "cutover.toml";
  testing::writeFile(config, "[sites.docs]\nrepo = \"" + repo.bare().string() +
                                 "\"\nbuild = \"true\"\nwebhook_secret = \"s\"\n"
                                 "[sites.gone]\nrepo = \"" +
                                 (dir_ / "nothing.git").string() + "\"\nbuild = \"true\"\n");
  auto r = doctor("", "", {"--config", config.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(lineAbout(r.out, "object store").starts_with("ok")) << r.out;
  EXPECT_TRUE(lineAbout(r.out, "pointer store").starts_with("ok")) << r.out;
  EXPECT_NE(lineAbout(r.out, "pointer store").find("watch round trip"), std::string::npos);
  EXPECT_TRUE(lineAbout(r.out, "site docs").starts_with("ok")) << r.out;
  EXPECT_TRUE(lineAbout(r.out, "site gone").starts_with("FAIL")) << r.out;
  EXPECT_NE(lineAbout(r.out, "site gone").find("nothing.git"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 problem found"), std::string::npos) << r.out;
  // The doctor leaves nothing behind: no test key, no test blob.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "data" / "pointers", ec)) {
    EXPECT_EQ(e.path().filename().string().find("doctor"), std::string::npos) << e.path();
  }
  EXPECT_FALSE(ec) << ec.message();
  auto blobs = dir_ / "data" / "objects" / "blobs";
  std::size_t files = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(blobs, ec);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file()) ++files;
  }
  EXPECT_EQ(files, 0U);
}

TEST_F(DoctorTest, NetworkedStoresThatAnswerPass) {
  if (!testing::EtcdCluster::installedOrSkip()) return;
  if (!testing::RedisServer::installedOrSkip()) return;
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  testing::EtcdCluster etcd(1);
  testing::RedisServer redis;
  for (const auto& pointers : {etcd.uri(), redis.uri()}) {
    auto r = doctor(s3->uniqueUri(), pointers);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(lineAbout(r.out, "object store").starts_with("ok")) << r.out;
    EXPECT_TRUE(lineAbout(r.out, "pointer store").starts_with("ok")) << r.out;
    EXPECT_NE(r.out.find("everything cutover needs answers"), std::string::npos) << r.out;
  }
}

TEST_F(DoctorTest, StoresThatDoNotAnswerAreNamedWithTheReason) {
  auto port = std::to_string(closedPort());
  auto started = std::chrono::steady_clock::now();
  auto r = doctor("s3://bucket?endpoint=http://127.0.0.1:" + port + "&region=us-east-1",
                  "redis://127.0.0.1:" + port);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto objects = lineAbout(r.out, "object store");
  EXPECT_TRUE(objects.starts_with("FAIL")) << r.out;
  EXPECT_NE(objects.find("127.0.0.1:" + port), std::string::npos) << objects;
  auto pointers = lineAbout(r.out, "pointer store");
  EXPECT_TRUE(pointers.starts_with("FAIL")) << r.out;
  EXPECT_NE(pointers.find("redis://127.0.0.1:" + port), std::string::npos) << pointers;
  EXPECT_NE(r.out.find("2 problems found"), std::string::npos) << r.out;
  // Each check is bounded by --timeout 5.
  EXPECT_LT(took, std::chrono::seconds(15));
}

TEST_F(DoctorTest, WrongS3CredentialsAreSaidToBeWrong) {
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  std::string saved = secret != nullptr ? secret : "";
  ::setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret", 1);
  auto r = doctor(s3->uniqueUri(), "");
  ::setenv("AWS_SECRET_ACCESS_KEY", saved.c_str(), 1);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto objects = lineAbout(r.out, "object store");
  EXPECT_TRUE(objects.starts_with("FAIL")) << r.out;
  EXPECT_NE(objects.find("refused the credentials"), std::string::npos) << objects;
  EXPECT_TRUE(lineAbout(r.out, "pointer store").starts_with("ok")) << r.out;
}

TEST_F(DoctorTest, ABadConfigIsTheFirstThingSaid) {
  auto config = dir_ / "cutover.toml";
  testing::writeFile(config, "[sites.docs]\nbuidl = \"make\"\n");
  auto r = doctor("", "", {"--config", config.string()});
  EXPECT_EQ(r.exit_code, 1);
  auto line = lineAbout(r.out, "configuration");
  EXPECT_TRUE(line.starts_with("FAIL")) << r.out;
  EXPECT_NE(line.find("unknown key 'buidl'"), std::string::npos) << line;
}

}  // namespace
}  // namespace cutover
