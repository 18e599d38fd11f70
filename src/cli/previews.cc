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
#include "cutover/pointer/access.h"
#include "cutover/pointer/aliases.h"
#include "cutover/pointer/records.h"
#include "cutover/store/manifest.h"

namespace cutover::cli {
namespace {

struct PreviewsArgs {
  std::string site;
  std::string alias;
  bool json = false;
  std::string for_how_long = "24h";
};

// The site's settings, which must have an access key (protection turned on at least once).
Result<SiteSettings> protectedSettings(DataDir& data, const std::string& site) {
  auto raw = data.pointers->get(siteKey(site));
  if (!raw) return tl::unexpected(raw.error());
  auto settings = *raw ? SiteSettings::fromJson(**raw) : Result<SiteSettings>(SiteSettings{});
  if (!settings) return settings;
  if (settings->access_key.empty()) {
    return fail(Errc::invalid_argument,
                fmt::format("site {} is not protected, so it needs no link: `cutover site set {} "
                            "--protect previews` protects its previews",
                            site, site));
  }
  return settings;
}

// `previews link SITE [NAME] --for D`: a share link that opens one protected host for D.
int runPreviewsLink(const GlobalOptions& global, const PreviewsArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  if (!args.alias.empty()) {
    if (auto ok = validateVersionId(args.alias); !ok) {
      return reportError(Error{Errc::invalid_argument,
                               "'" + args.alias + "' is not a preview alias or a version id"});
    }
  }
  auto seconds = parsePreviewExpiry(args.for_how_long, "--for");
  if (!seconds) return reportError(seconds.error());
  if (*seconds == 0) return reportError(Error{Errc::invalid_argument, "--for must be more than 0"});
  auto data = DataDir::open(global, DataDir::stores);
  auto settings = protectedSettings(data, args.site);
  if (!settings) return reportError(settings.error());
  std::string label = args.alias.empty() ? args.site : args.alias + "--" + args.site;
  std::int64_t until = std::time(nullptr) + *seconds;
  std::string token = signAccess(settings->access_key, AccessKind::share, label, until);
  std::string host = args.alias.empty() ? args.site + ".<preview domain> (or any of its hosts)"
                                        : label + ".<preview domain>";
  std::printf("%s/?%s=%s\n", host.c_str(), std::string(kShareQuery).c_str(), token.c_str());
  std::fprintf(stderr,
               "opens %s until %s for whoever holds it (the browser keeps a cookie for that host "
               "alone); `cutover site set %s --rotate-key` voids every link\n",
               label.c_str(), rfc3339(until).c_str(), args.site.c_str());
  if (settings->protect == Protection::none ||
      (args.alias.empty() && settings->protect != Protection::all)) {
    std::fprintf(stderr, "note: %s is not protected now, so it answers without the link too\n",
                 label.c_str());
  }
  return kExitOk;
}

// `previews bypass SITE`: the X-Cutover-Bypass secret, for automation (tests, link checkers).
int runPreviewsBypass(const GlobalOptions& global, const PreviewsArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  auto data = DataDir::open(global, DataDir::stores);
  auto settings = protectedSettings(data, args.site);
  if (!settings) return reportError(settings.error());
  std::printf("%s\n", bypassSecret(settings->access_key, args.site).c_str());
  std::fprintf(stderr,
               "send it as 'X-Cutover-Bypass: <secret>' to reach every protected host of %s; "
               "`cutover site set %s --rotate-key` makes a new one\n",
               args.site.c_str(), args.site.c_str());
  return kExitOk;
}

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
  auto* link = cmd->add_subcommand(
      "link", "Print a share link that opens one protected preview for a while");
  link->add_option("site", args->site, "The site's name")->required();
  link->add_option(
      "preview", args->alias,
      "A preview alias or version id (none: the site's own hosts, when --protect all)");
  link->add_option("--for", args->for_how_long, "How long it opens the preview (default 24h)");
  link->footer(
      "Whoever opens the link gets a cookie for that one host, valid as long as the link; the\n"
      "token then leaves the address. A link for one preview opens no other.\n\n"
      "Examples:\n  cutover previews link docs feature-login --for 2d\n"
      "  cutover previews link staging --for 8h\n");
  link->callback(
      [&global, &run, args] { run = [&global, args] { return runPreviewsLink(global, *args); }; });
  auto* bypass = cmd->add_subcommand(
      "bypass", "Print the secret that opens every protected host of a site (X-Cutover-Bypass)");
  bypass->add_option("site", args->site, "The site's name")->required();
  bypass->footer(
      "Example:\n  curl -H \"X-Cutover-Bypass: $(cutover previews bypass docs)\" "
      "http://pr-12--docs.localhost:8080/\n");
  bypass->callback([&global, &run, args] {
    run = [&global, args] { return runPreviewsBypass(global, *args); };
  });
  cmd->alias("preview");
  cmd->callback([&global, &run, args, cmd] {
    if (cmd->got_subcommand("remove") || cmd->got_subcommand("link") ||
        cmd->got_subcommand("bypass")) {
      return;
    }
    run = [&global, args] { return runPreviews(global, *args); };
  });
}

}  // namespace cutover::cli
