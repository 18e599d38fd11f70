// A deploy onto a full disk, with the real binary: the data folder is a small tmpfs mounted in a
// private mount namespace (unshare), so nothing outside the test sees it and it goes with the
// test's shell. Skipped where no mount namespace can be made.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::readFile;
using testing::TempDir;
using testing::writeFile;

constexpr int kNoMount = 97;

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Runs `script` under /bin/sh in a new mount namespace where $DATA is a tmpfs of `size`;
// the exit status of the script, or kNoMount when no namespace or mount could be made.
int runOnSmallDisk(const std::filesystem::path& data, const std::string& size,
                   const std::filesystem::path& marker, const std::string& script) {
  std::filesystem::create_directories(data);
  std::string inner = "mount -t tmpfs -o size=" + size + " tmpfs " + quote(data.string()) +
                      " || exit " + std::to_string(kNoMount) + "\ntouch " + quote(marker.string()) +
                      "\n" + script;
  std::string unshare =
      ::geteuid() == 0 ? "unshare -m --propagation private" : "unshare -r -m --propagation private";
  std::string command = unshare + " /bin/sh -c " + quote(inner) + " 2>/dev/null";
  int status = std::system(command.c_str());
  if (!WIFEXITED(status)) return -1;
  // unshare itself failed (no user namespaces) when the script never started.
  return std::filesystem::exists(marker) ? WEXITSTATUS(status) : kNoMount;
}

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class FullDiskTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::filesystem::path data_ = dir_ / "data";
  std::filesystem::path out_ = dir_ / "out";
  std::string bin_ = testing::cutoverBinary();

  void SetUp() override { std::filesystem::create_directories(out_); }

  // "cutover --data-dir DATA ARGS > out/NAME.out 2> out/NAME.err; echo $? > out/NAME.rc"
  std::string step(const std::string& name, const std::string& args) {
    auto o = (out_ / name).string();
    return quote(bin_) + " --data-dir " + quote(data_.string()) + " " + args + " > " +
           quote(o + ".out") + " 2> " + quote(o + ".err") + "; echo $? > " + quote(o + ".rc") +
           "\n";
  }
  std::string countBlobs(const std::string& name) {
    return "find " + quote((data_ / "objects" / "blobs").string()) + " -type f | wc -l > " +
           quote((out_ / name).string()) + "\n";
  }
  int rc(const std::string& name) { return std::stoi(readFile(out_ / (name + ".rc"))); }
  std::string err(const std::string& name) { return readFile(out_ / (name + ".err")); }
  int number(const std::string& name) { return std::stoi(readFile(out_ / name)); }
};

// A deploy that fills the disk fails with status 1 and says the disk is full, naming where; it
// removes the blobs it added, so the next deploy has room; nothing live changed meanwhile.
TEST_F(FullDiskTest, ADeployThatFillsTheDiskSaysSoAndRemovesWhatItAdded) {
  writeFile(dir_ / "small" / "index.html", "<h1>v1</h1>");
  writeFile(dir_ / "small2" / "index.html", "<h1>v2</h1>");
  for (int i = 0; i < 40; ++i) {
    writeFile(dir_ / "big" / ("part" + std::to_string(i) + ".bin"),
              randomBytes(128 * 1024, static_cast<unsigned>(i)));
  }
  std::string script = step("v1", "deploy " + quote((dir_ / "small").string()) + " --site docs") +
                       countBlobs("blobs-v1") +
                       step("big", "deploy " + quote((dir_ / "big").string()) + " --site docs") +
                       countBlobs("blobs-big") +
                       step("v2", "deploy " + quote((dir_ / "small2").string()) + " --site docs") +
                       step("versions", "versions docs --json");
  int status = runOnSmallDisk(data_, "3m", out_ / "started", script);
  if (status == kNoMount) GTEST_SKIP() << "no mount namespace for a small tmpfs here";
  ASSERT_EQ(status, 0);

  ASSERT_EQ(rc("v1"), 0) << err("v1");
  EXPECT_EQ(rc("big"), 1) << err("big");
  EXPECT_NE(err("big").find("the disk is full ("), std::string::npos) << err("big");
  EXPECT_NE(err("big").find(data_.string()), std::string::npos) << err("big");
  EXPECT_EQ(number("blobs-big"), number("blobs-v1")) << "the failed deploy left blobs behind";
  EXPECT_EQ(rc("v2"), 0) << err("v2");
  auto versions = nlohmann::json::parse(readFile(out_ / "versions.out"), nullptr, false);
  ASSERT_TRUE(versions.is_array());
  EXPECT_EQ(versions.size(), 2U);
}

// When the deploy history (SQLite) cannot be written for want of space, the deploy fails with
// status 1 (not 2, a command-line error) and says the disk is full, naming the database.
TEST_F(FullDiskTest, AFullDiskUnderTheHistoryIsReportedAsAFullDisk) {
  writeFile(dir_ / "small" / "index.html", "<h1>v1</h1>");
  writeFile(dir_ / "small2" / "index.html", "<h1>v2</h1>");
  std::string script = step("v1", "deploy " + quote((dir_ / "small").string()) + " --site docs") +
                       "dd if=/dev/zero of=" + quote((data_ / "filler").string()) +
                       " bs=4k 2>/dev/null\n" +
                       step("v2", "deploy " + quote((dir_ / "small2").string()) + " --site docs");
  int status = runOnSmallDisk(data_, "1m", out_ / "started", script);
  if (status == kNoMount) GTEST_SKIP() << "no mount namespace for a small tmpfs here";
  ASSERT_EQ(status, 0);
  ASSERT_EQ(rc("v1"), 0) << err("v1");
  EXPECT_EQ(rc("v2"), 1) << err("v2");
  EXPECT_NE(err("v2").find("the disk is full ("), std::string::npos) << err("v2");
  EXPECT_NE(err("v2").find(data_.string()), std::string::npos) << err("v2");
}

}  // namespace
}  // namespace cutover
