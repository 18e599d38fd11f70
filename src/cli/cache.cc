#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "pipeline/build/build.h"

namespace cutover::cli {
namespace {

int runCacheClear(const GlobalOptions& global, const std::string& site) {
  auto data = DataDir::open(global, DataDir::stores);
  auto cleared = build::clearBuildCache(data.root, site);
  if (!cleared) return reportError(cleared.error());
  std::printf("cleared the build cache of %s; its next build downloads its packages again\n",
              site.c_str());
  return kExitOk;
}

}  // namespace

void addCacheCommands(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* cache = app.add_subcommand(
      "cache", "A site's build cache: package manager caches kept between its builds");
  cache->require_subcommand(1);
  auto site = std::make_shared<std::string>();
  auto* clear =
      cache->add_subcommand("clear", "Empty a site's build cache (DATA/build-cache/SITE)");
  clear->add_option("site", *site, "The site")->required();
  clear->footer("Example:\n  cutover cache clear docs\n");
  clear->callback(
      [&global, &run, site] { run = [&global, site] { return runCacheClear(global, *site); }; });
}

}  // namespace cutover::cli
