#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/pipeline_support.h"
#include "cutover/common/config_error.h"
#include "cutover/common/names.h"

namespace cutover::cli {
namespace {

constexpr std::string_view kMarker = "# cutover git hook";

struct InitArgs {
  std::string repo;
  std::string site;
  std::string branch;
  unsigned timeout = 600;
  bool force = false;
};

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::filesystem::path selfBinary() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw ConfigError("cannot find the cutover binary's path: " + ec.message());
  return exe;
}

// The hooks folder of a bare repository, or of a repository with a work tree.
std::filesystem::path hooksFolder(const std::filesystem::path& repo) {
  std::error_code ec;
  if (std::filesystem::is_directory(repo / ".git", ec)) return repo / ".git" / "hooks";
  if (std::filesystem::exists(repo / "HEAD", ec) &&
      std::filesystem::is_directory(repo / "objects", ec)) {
    return repo / "hooks";
  }
  throw ConfigError(repo.string() + " is not a git repository (create one with git init --bare)");
}

int runInit(const GlobalOptions& global, const InitArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  std::optional<Config> config;
  std::string branch = args.branch;
  if (!global.config.empty()) {
    config = loadConfigOrExit(global.config);
    const SiteConfig* site = config->site(args.site);
    if (site == nullptr || !site->builds()) {
      throw ConfigError("site " + args.site + " has no repo in " + global.config);
    }
    if (branch.empty()) branch = site->branch;
  }
  if (branch.empty()) branch = "main";
  auto repo = std::filesystem::absolute(args.repo).lexically_normal();
  auto hooks = hooksFolder(repo);
  auto data_dir = std::filesystem::absolute(resolveDataDir(global, config ? &*config : nullptr));
  std::error_code ec;
  std::filesystem::create_directories(hooks, ec);
  auto hook = hooks / "post-receive";
  if (std::filesystem::exists(hook, ec) && !args.force) {
    std::ifstream in(hook);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find(kMarker) == std::string::npos) {
      throw ConfigError(hook.string() +
                        " exists and was not written by cutover; --force replaces it");
    }
  }

  std::string command = quote(selfBinary().string()) + " --data-dir " + quote(data_dir.string());
  if (config) {
    command +=
        " --config " + quote(std::filesystem::absolute(global.config).lexically_normal().string());
  }
  command += " pipeline run " + args.site + " --commit \"$new\" --trigger push --timeout " +
             std::to_string(args.timeout);
  std::string script =
      std::string("#!/bin/sh\n") + std::string(kMarker) + ": deploys site " + args.site +
      " when branch " + branch +
      " is pushed.\n"
      "# Written by `cutover init --git-hook`; run it again to rewrite this file.\n"
      "# The push is already stored when this runs: a failed deploy does not undo it.\n"
      "# It waits for the deploy (at most " +
      std::to_string(args.timeout) +
      " s for a running pipeline) and prints its progress to the pusher.\n"
      "unset GIT_DIR GIT_QUARANTINE_PATH GIT_PUSH_OPTION_COUNT\n"
      "while read -r old new ref; do\n"
      "  [ \"$ref\" = " +
      quote("refs/heads/" + branch) +
      " ] || continue\n"
      "  case \"$new\" in *[!0]*) ;; *) continue ;; esac  # the branch was deleted\n"
      "  " +
      command +
      " </dev/null\n"
      "done\n"
      "exit 0\n";
  auto temp = hooks / ".post-receive.cutover-tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << script;
    if (!out) throw ConfigError("cannot write " + temp.string());
  }
  std::filesystem::permissions(temp, std::filesystem::perms(0755), ec);
  std::filesystem::rename(temp, hook, ec);
  if (ec) throw ConfigError("cannot install " + hook.string() + ": " + ec.message());
  std::printf("installed %s: a push to %s of %s deploys site %s (data %s)\n", hook.c_str(),
              branch.c_str(), repo.c_str(), args.site.c_str(), data_dir.c_str());
  if (!config) {
    std::printf(
        "no --config given: the push only queues the build, for a running "
        "`cutover pipeline` or `cutover serve` to do\n");
  }
  return kExitOk;
}

}  // namespace

void addInitCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<InitArgs>();
  auto* cmd = app.add_subcommand("init", "Set up deploys on git push");
  cmd->add_option("--git-hook", args->repo,
                  "Install a post-receive hook in this repository (usually a bare one)")
      ->required();
  cmd->add_option("--site,-s", args->site, "The site a push deploys")->required();
  cmd->add_option("--branch", args->branch,
                  "The branch that deploys (default: the config's, or main)");
  cmd->add_option("--timeout", args->timeout,
                  "Seconds the push waits for a running pipeline's deploy (default 600)");
  cmd->add_flag("--force", args->force, "Replace a post-receive hook cutover did not write");
  cmd->footer(
      "After a push to the site's branch the hook runs `cutover pipeline run SITE --commit NEW`:\n"
      "a running pipeline (cutover serve / cutover pipeline) builds it; without one the hook\n"
      "builds it itself. Either way the pusher sees the progress and the outcome.\n\n"
      "Example:\n  cutover init --git-hook /srv/git/docs.git --site docs --config "
      "/etc/cutover.toml\n");
  cmd->callback(
      [&global, &run, args] { run = [&global, args] { return runInit(global, *args); }; });
}

}  // namespace cutover::cli
