// A deploy's memory does not grow with its files' size, and the deploy limits refuse what is
// over them before anything is stored: the real binary, its peak RSS measured by wait4().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::readFile;
using testing::TempDir;
using testing::writeFile;

struct Measured {
  int exit_code = -1;
  long peak_rss_kib = 0;
  std::string err;
};

// Runs cutover with `args`, stdout and stderr to files in `dir`; its exit status and peak RSS.
Measured runMeasured(const std::filesystem::path& dir, const std::vector<std::string>& args) {
  std::string bin = testing::cutoverBinary();
  auto err_file = dir / "measured.err";
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open("/dev/null", O_WRONLY);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> argv{bin.data()};
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  Measured m;
  int status = 0;
  struct rusage usage {};
  if (::wait4(pid, &status, 0, &usage) != pid) return m;
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  m.peak_rss_kib = usage.ru_maxrss;
  m.err = readFile(err_file);
  return m;
}

class DeployMemoryTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string data_ = (dir_ / "data").string();

  // A tar.gz of one text file of `size` zero bytes (about 1 MB per GiB), made from a sparse file
  // so the test writes no more than the archive.
  std::filesystem::path zerosArchive(const std::string& size) {
    auto src = dir_ / "zeros";
    std::filesystem::create_directories(src);
    writeFile(src / "index.html", "<h1>zeros</h1>");
    EXPECT_EQ(std::system(("truncate -s " + size + " " + (src / "zeros.txt").string()).c_str()), 0);
    auto archive = dir_ / "zeros.tar.gz";
    EXPECT_EQ(std::system(("tar -czf " + archive.string() + " -C " + src.string() + " .").c_str()),
              0);
    std::filesystem::remove_all(src);
    return archive;
  }
  std::string liveVersion() {
    auto r = testing::runCutover({"--data-dir", data_, "versions", "docs", "--json"});
    auto list = nlohmann::json::parse(r.out, nullptr, false);
    std::string live;
    if (!list.is_array()) return live;
    for (const auto& v : list) {
      if (v.value("live", false)) live = v.value("version", "");
    }
    return live;
  }
};

// 256 MiB of zeros in a 256 kB tar.gz: stored, hashed and precompressed as streams, the deploy's
// peak memory stays below the file's size (holding the file whole took twice its size).
TEST_F(DeployMemoryTest, AHugeCompressibleFileDeploysInBoundedMemory) {
  auto archive = zerosArchive("256M");
  auto m =
      runMeasured(dir_.path(), {"--data-dir", data_, "deploy", archive.string(), "--site", "docs"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_LT(m.peak_rss_kib, 200 * 1024) << "peak RSS " << m.peak_rss_kib / 1024 << " MiB";
  auto r = testing::runCutover({"--data-dir", data_, "versions", "docs", "--json"});
  EXPECT_NE(r.out.find("\"live\":true"), std::string::npos) << r.out;
}

// Over a limit, the deploy is refused naming the file and the limit, stores nothing and leaves
// the live version as it was; the site's own limit in cutover.toml and the flag both apply.
TEST_F(DeployMemoryTest, LimitsRefuseADeployAndChangeNothingLive) {
  writeFile(dir_ / "v1" / "index.html", "<h1>v1</h1>");
  ASSERT_EQ(
      testing::runCutover({"--data-dir", data_, "deploy", (dir_ / "v1").string(), "--site", "docs"})
          .exit_code,
      0);
  std::string live = liveVersion();
  ASSERT_FALSE(live.empty());

  auto archive = zerosArchive("600M");  // over the default of 512 MiB per file
  auto m =
      runMeasured(dir_.path(), {"--data-dir", data_, "deploy", archive.string(), "--site", "docs"});
  EXPECT_EQ(m.exit_code, 1) << m.err;
  EXPECT_NE(m.err.find("zeros.txt"), std::string::npos) << m.err;
  EXPECT_NE(m.err.find("512 MiB"), std::string::npos) << m.err;
  EXPECT_NE(m.err.find("--max-file-size"), std::string::npos) << m.err;

  writeFile(dir_ / "many" / "a.html", "a");
  writeFile(dir_ / "many" / "b.html", "b");
  writeFile(dir_ / "many" / "c.html", "c");
  auto files = runMeasured(dir_.path(), {"--data-dir", data_, "deploy", (dir_ / "many").string(),
                                         "--site", "docs", "--max-files", "2"});
  EXPECT_EQ(files.exit_code, 1) << files.err;
  EXPECT_NE(files.err.find("more than 2 files"), std::string::npos) << files.err;

  writeFile(dir_ / "cutover.toml",
            "[limits]\nmax_total_size = \"1MiB\"\n"
            "[sites.docs.limits]\nmax_file_size = \"1KiB\"\n");
  writeFile(dir_ / "big" / "page.html", std::string(2000, 'x'));
  auto configured =
      runMeasured(dir_.path(), {"--config", (dir_ / "cutover.toml").string(), "--data-dir", data_,
                                "deploy", (dir_ / "big").string(), "--site", "docs"});
  EXPECT_EQ(configured.exit_code, 1) << configured.err;
  EXPECT_NE(configured.err.find("over the limit of 1 KiB per file"), std::string::npos)
      << configured.err;

  EXPECT_EQ(liveVersion(), live);
  std::size_t blobs = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir_ / "data" / "objects" / "blobs")) {
    if (entry.is_regular_file()) ++blobs;
  }
  EXPECT_EQ(blobs, 1U) << "a refused deploy left files in the store";  // v1's page
}

}  // namespace
}  // namespace cutover
