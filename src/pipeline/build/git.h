#pragma once

#include <chrono>
#include <filesystem>
#include <stop_token>
#include <string>
#include <vector>

#include "cutover/common/result.h"
#include "pipeline/build/build_log.h"

namespace cutover::build {

// What a checkout is: the commit that was built.
struct CommitInfo {
  std::string sha;
  std::string subject;
  std::string author;  // "Name <email>"
};

// How git runs: its environment (a clean one: see cleanEnvironment), a bound on each git
// command, and where its output goes.
struct GitOptions {
  std::vector<std::string> env;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  BuildLog* log = nullptr;  // git's output is logged here when set
  std::stop_token stop;
};

// A repository as git is given it: a local path becomes a file:// URL (so a shallow fetch
// works as it does from a server); URLs pass as they are.
[[nodiscard]] std::string gitUrl(const std::string& repo);

// A fresh checkout of exactly one commit in `dir` (created; must not exist or be empty):
// `git init`, `git fetch --depth 1 <repo> <ref>`, checkout of FETCH_HEAD. `ref` is a commit id,
// a full ref ("refs/pull/3/head") or a branch name (refs/heads/<ref>). Fails with git's own words
// when the repo or ref is unreachable.
[[nodiscard]] Result<CommitInfo> checkoutCommit(const std::string& repo, const std::string& ref,
                                                const std::filesystem::path& dir,
                                                const GitOptions& options);

// The commit at the tip of `branch` (or of a full ref, "refs/pull/3/head") in `repo`
// (`git ls-remote`); not_found if there is no such branch or ref.
[[nodiscard]] Result<std::string> remoteHead(const std::string& repo, const std::string& branch,
                                             const GitOptions& options);

// True for a full 40-hex (or 64-hex) commit id.
[[nodiscard]] bool isCommitId(std::string_view text);

}  // namespace cutover::build
