#pragma once

#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "cutover/common/result.h"
#include "cutover/config/config.h"
#include "pipeline/build/build_log.h"
#include "pipeline/build/git.h"

namespace cutover::build {

// A build's private folder: `src/` (the checkout), `home/` (its HOME) and `etc/` (the files of
// /etc made for its sandbox). Removed with
// everything in it when the object goes, whatever the outcome.
class Workspace {
 public:
  explicit Workspace(std::filesystem::path root) : root_(std::move(root)) {}
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }
  [[nodiscard]] std::filesystem::path source() const { return root_ / "src"; }
  [[nodiscard]] std::filesystem::path home() const { return root_ / "home"; }

 private:
  std::filesystem::path root_;
};

struct BuildPlan {
  SiteConfig site;
  std::string ref;               // a commit id, a full ref, or a branch name
  std::string branch;            // the branch built (CUTOVER_BRANCH); empty: the site's
  std::uint64_t pr = 0;          // a pull request's number (CUTOVER_PR), or 0
  std::filesystem::path hidden;  // hidden from a sandboxed build (the data folder)
  // What the build is told about itself (CUTOVER_* variables).
  std::string deploy_id;
  std::string version;          // the version id to store the output as (empty: a new one)
  std::string url;              // the site's URL
  std::string preview_url;      // the URL of this version; "{version}" is replaced by its id
  bool production = true;       // the version goes live (CUTOVER_CONTEXT=production)
  std::filesystem::path cache;  // the site's build cache (empty: none)
};

// The build cache of `site`: DATA/build-cache/SITE.
[[nodiscard]] std::filesystem::path buildCacheFolder(const std::filesystem::path& data_dir,
                                                     const std::string& site);

// Empties the build cache of `site` in `data_dir`. Fine if there is none.
[[nodiscard]] Result<void> clearBuildCache(const std::filesystem::path& data_dir,
                                           const std::string& site);

struct BuildResult {
  CommitInfo commit;
  std::filesystem::path output;  // the folder to deploy, inside the workspace
  double command_ms = 0;         // the build command's own run time
  std::string version;           // the version id the build was told (CUTOVER_VERSION)
};

// Enters a stage: "fetching", "building".
using StageCallback = std::function<void(std::string_view stage)>;
// The commit checked out, told before the build command runs (so a failed build names it too).
using CommitCallback = std::function<void(const CommitInfo& commit)>;

// Checks out `plan.ref` of the site's repo into the workspace and runs its build command there:
// unless the site set sandbox = false, under bwrap (see buildArgv), as an unprivileged user,
// within the site's limits, with only PATH, HOME, LANG, the caches, the site's env and the
// CUTOVER_* variables. Fails, with the reason and the output lines that carry the error, when
// git fails, the sandbox cannot start, the command exits non-zero or times out, or the output
// folder is missing, empty or outside the checkout. Nothing is deployed here.
[[nodiscard]] Result<BuildResult> buildSite(const BuildPlan& plan, const Workspace& workspace,
                                            BuildLog& log, const StageCallback& stage,
                                            std::stop_token stop = {},
                                            const CommitCallback& checked_out = {});

// The argv that runs the build command for `plan`: /bin/sh -c, inside bwrap when sandboxed with
// a read-only minimal root (/usr, /bin, /lib*, a few files of /etc and a made-up passwd), the
// checkout at /build/src, HOME at /build/home, the cache at /build/cache, a private /tmp, new
// /proc and /dev, new user, pid, ipc and uts namespaces, no network if the site says so, and
// exactly the variables of `env`.
[[nodiscard]] std::vector<std::string> buildArgv(const BuildPlan& plan, const Workspace& workspace,
                                                 const std::vector<std::string>& env);

}  // namespace cutover::build
