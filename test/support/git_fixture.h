#pragma once

// A real git repository for the pipeline's tests: a bare repo to build from, and a work tree
// that commits and pushes to it.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/temp_dir.h"

namespace cutover::testing {

// Runs `command` with /bin/sh; returns its stdout without the trailing newline. Fails the test
// if it exits non-zero.
inline std::string sh(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen failed: " << command;
    return out;
  }
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
  int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << command << "\n" << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

inline std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

class GitRepo {
 public:
  // A bare repo at dir/NAME.git and a work tree at dir/NAME-work, with the branch main.
  GitRepo(const std::filesystem::path& dir, const std::string& name = "site")
      : bare_(dir / (name + ".git")), work_(dir / (name + "-work")) {
    ::setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
    ::setenv("GIT_AUTHOR_EMAIL", "ada@example.com", 1);
    ::setenv("GIT_COMMITTER_NAME", "Ada Lovelace", 1);
    ::setenv("GIT_COMMITTER_EMAIL", "ada@example.com", 1);
    sh("git init -q --bare -b main " + q(bare_));
    sh("git init -q -b main " + q(work_));
    sh("git -C " + q(work_) + " remote add origin " + q(bare_));
  }

  // Writes build.sh (run by the site's build command) and commits it; returns the commit id.
  std::string commit(const std::string& build_script, const std::string& message) {
    writeFile(work_ / "build.sh", build_script);
    sh("git -C " + q(work_) + " add -A && git -C " + q(work_) + " commit -q -m " + "'" + message +
       "'");
    return sh("git -C " + q(work_) + " rev-parse HEAD");
  }
  // Pushes main to the bare repo; returns git push's output (stdout and stderr).
  std::string push() { return sh("git -C " + q(work_) + " push -q origin main 2>&1"); }
  // Pushes `refspec` ("feature/x", "HEAD:refs/pull/7/head") to the bare repo.
  std::string push(const std::string& refspec) {
    return sh("git -C " + q(work_) + " push -q -f origin " + q(refspec) + " 2>&1");
  }
  // Switches the work tree to `branch`, created from the current commit if it does not exist.
  void checkout(const std::string& branch) {
    sh("git -C " + q(work_) + " checkout -q " + q(branch) + " 2>/dev/null || git -C " + q(work_) +
       " checkout -q -b " + q(branch));
  }

  [[nodiscard]] const std::filesystem::path& bare() const { return bare_; }
  [[nodiscard]] const std::filesystem::path& work() const { return work_; }

 private:
  std::filesystem::path bare_, work_;
};

}  // namespace cutover::testing
