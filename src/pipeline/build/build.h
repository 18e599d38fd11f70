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

// A build's private folder: `src/` (the checkout) and `home/` (its HOME). Removed with
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
  std::string ref;               // a commit id, or a branch name
  std::filesystem::path hidden;  // hidden from a sandboxed build (the data folder)
};

struct BuildResult {
  CommitInfo commit;
  std::filesystem::path output;  // the folder to deploy, inside the workspace
  double command_ms = 0;         // the build command's own run time
};

// Enters a stage: "fetching", "building".
using StageCallback = std::function<void(std::string_view stage)>;

// Checks out `plan.ref` of the site's repo into the workspace and runs its build command there
// (see runCommand: own process group, timeout, clean environment; under bwrap if the site asks
// for a sandbox). Fails, with the reason and the last lines of output, when git fails, the
// command exits non-zero or times out, or the output folder is missing, empty or outside the
// checkout. Nothing is deployed here.
[[nodiscard]] Result<BuildResult> buildSite(const BuildPlan& plan, const Workspace& workspace,
                                            BuildLog& log, const StageCallback& stage,
                                            std::stop_token stop = {});

// The argv that runs `command` for `plan` (bwrap around /bin/sh -c when sandboxed).
[[nodiscard]] std::vector<std::string> buildArgv(const BuildPlan& plan, const Workspace& workspace);

}  // namespace cutover::build
