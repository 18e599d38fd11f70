// `cutover previews SITE` lists a site's preview aliases (one per branch and pull request that
// builds as a preview); `cutover previews remove SITE ALIAS` retires one.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/common/names.h"
#include "cutover/pointer/aliases.h"
#include "cutover/store/manifest.h"

namespace cutover::cli {
namespace {

struct PreviewsArgs {
  std::string site;
  std::string alias;
  bool json = false;
};

std::string origin(const AliasPointer& alias) {
  return alias.pr != 0 ? fmt::format("pull request {} ({})", alias.pr, alias.branch)
                       : "branch " + alias.branch;
}

int runPreviews(const GlobalOptions& global, const PreviewsArgs& args) {
  if (args.site.empty()) {
    return reportError(Error{Errc::invalid_argument, "name the site: cutover previews SITE"});
  }
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  auto data = DataDir::open(global, DataDir::stores);
  auto aliases = listAliases(*data.pointers, args.site);
  if (!aliases) return reportError(aliases.error());
  std::int64_t now = std::time(nullptr);
  if (args.json) {
    auto out = nlohmann::json::array();
    for (const auto& [name, alias] : *aliases) {
      out.push_back(previewJson(args.site, name, alias, now));
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  if (aliases->empty()) {
    std::fprintf(stderr,
                 "site %s has no previews (pushes to previews.branches and pull requests make "
                 "them)\n",
                 args.site.c_str());
    return kExitOk;
  }
  for (const auto& [name, alias] : *aliases) {
    std::printf("%s--%s.<preview domain>  %s  %s, since %s, %s %s\n", name.c_str(),
                args.site.c_str(), alias.pointer.version.c_str(), origin(alias).c_str(),
                alias.pointer.since.c_str(), alias.until > now ? "open until" : "expired at",
                rfc3339(alias.until).c_str());
  }
  return kExitOk;
}

int runPreviewsRemove(const GlobalOptions& global, const PreviewsArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  auto data = DataDir::open(global, DataDir::stores);
  auto removed = removeAlias(*data.pointers, args.site, args.alias);
  if (!removed) return reportError(removed.error());
  std::printf(
      "removed preview %s--%s (%s, version %s): its host answers 404 on every edge, and gc "
      "may collect its versions\n",
      args.alias.c_str(), args.site.c_str(), origin(*removed).c_str(),
      removed->pointer.version.c_str());
  return kExitOk;
}

}  // namespace

void addPreviewsCommands(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<PreviewsArgs>();
  auto* cmd = app.add_subcommand(
      "previews", "List a site's previews: one alias per branch and pull request built as one");
  cmd->add_option("site", args->site, "The site's name");
  cmd->add_flag("--json", args->json, "Print a JSON array");
  cmd->footer(
      "Each preview answers at ALIAS--SITE.<preview domain> (serve --preview-domain, default\n"
      "localhost) with the newest build of its branch or pull request, and flips atomically to\n"
      "the next one. Branches build as previews when [sites.SITE.previews] branches names them;\n"
      "pull requests when the site's webhook sends them. A preview stops answering when its\n"
      "pull request closes, its branch is deleted, or no build came for previews.expires\n"
      "(default 30d).\n\n"
      "Examples:\n  cutover previews docs\n  cutover previews remove docs feature-login\n"
      "  cutover promote docs feature-login\n");
  auto* remove = cmd->add_subcommand("remove", "Retire a preview: its host stops answering");
  remove->add_option("site", args->site, "The site's name")->required();
  remove->add_option("alias", args->alias, "The preview's alias (feature-login, pr-12)")
      ->required();
  remove->callback([&global, &run, args] {
    run = [&global, args] { return runPreviewsRemove(global, *args); };
  });
  cmd->callback([&global, &run, args, cmd] {
    if (cmd->got_subcommand("remove")) return;
    run = [&global, args] { return runPreviews(global, *args); };
  });
}

}  // namespace cutover::cli
