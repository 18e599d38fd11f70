#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/common/names.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pointer/records.h"

namespace cutover::cli {
namespace {

struct SiteRow {
  std::string site;
  std::optional<LivePointer> live;
  SiteSettings settings;
  std::size_t versions = 0;
};

Result<std::vector<SiteRow>> loadSites(DataDir& data) {
  std::set<std::string> names;
  auto stored = data.objects->listSites();
  if (!stored) return tl::unexpected(stored.error());
  names.insert(stored->begin(), stored->end());
  for (auto prefix : {kLivePrefix, kSitePrefix}) {
    auto keys = data.pointers->list(std::string(prefix));
    if (!keys) return tl::unexpected(keys.error());
    for (const auto& [key, value] : *keys) names.insert(key.substr(prefix.size()));
  }
  std::vector<SiteRow> rows;
  for (const auto& name : names) {
    SiteRow row{name, std::nullopt, {}, 0};
    auto live = readLivePointer(*data.pointers, name);
    if (!live) return tl::unexpected(live.error());
    row.live = *live;
    if (auto raw = data.pointers->get(siteKey(name)); raw && *raw) {
      if (auto s = SiteSettings::fromJson(**raw)) row.settings = *s;
    }
    if (auto versions = data.objects->listVersions(name)) row.versions = versions->size();
    rows.push_back(std::move(row));
  }
  return rows;
}

int runSites(const GlobalOptions& global, bool json, bool with_deploys) {
  auto data = DataDir::open(global, with_deploys ? DataDir::with_history : DataDir::stores);
  auto rows = loadSites(data);
  if (!rows) return reportError(rows.error());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : *rows) {
      out.push_back({{"site", r.site},
                     {"live", r.live ? r.live->version : ""},
                     {"since", r.live ? r.live->since : ""},
                     {"by", r.live ? r.live->deploy : ""},
                     {"previous", r.live ? r.live->previous : ""},
                     {"locked", r.live && r.live->lock ? r.live->lock->reason : ""},
                     {"hosts", r.settings.hosts},
                     {"spa", r.settings.spa},
                     {"max_age", r.settings.max_age},
                     {"protect", toString(r.settings.protect)},
                     {"versions", r.versions}});
    }
    std::printf("%s\n", out.dump().c_str());
    return kExitOk;
  }
  if (with_deploys) std::printf("data folder %s\n\n", data.root.c_str());
  if (rows->empty()) {
    std::printf("no sites yet: cutover deploy ./public --site NAME\n");
  }
  for (const auto& r : *rows) {
    std::printf("%s\n", r.site.c_str());
    if (r.live) {
      std::printf("  live      %s since %s by %s\n", r.live->version.c_str(), r.live->since.c_str(),
                  r.live->deploy.c_str());
      if (const auto& lock = r.live->lock) {
        std::printf("  locked    %s (%s, since %s): deploys are stored, not made live\n",
                    lock->reason.c_str(), lock->by.c_str(), lock->since.c_str());
      }
    } else {
      std::printf("  live      nothing\n");
    }
    std::string hosts = r.site + ".localhost";
    for (const auto& h : r.settings.hosts) hosts += ", " + h;
    std::printf("  hosts     %s\n  versions  %zu stored\n", hosts.c_str(), r.versions);
  }
  if (with_deploys) {
    auto recent = data.history->list("", 5);
    if (!recent) return reportError(recent.error());
    if (!recent->empty()) std::printf("\nrecent deploys\n");
    for (const auto& d : *recent) {
      std::printf("  %s  %-10s %-9s %s %s%s\n", d.started.c_str(), d.site.c_str(), d.status.c_str(),
                  d.version.empty() ? "-" : d.version.c_str(), d.activated ? "(activated)" : "",
                  d.error.empty() ? "" : ("  " + d.error).c_str());
    }
  }
  return kExitOk;
}

struct SiteSetArgs {
  std::string site;
  std::vector<std::string> add_hosts;
  std::vector<std::string> remove_hosts;
  std::optional<bool> spa;
  std::optional<std::uint32_t> max_age;
  std::string protect;
  bool rotate_key = false;
};

int runSiteSet(const GlobalOptions& global, const SiteSetArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  std::optional<Protection> protect;
  if (!args.protect.empty()) {
    protect = parseProtection(args.protect);
    if (!protect) {
      return reportError(
          Error{Errc::invalid_argument,
                "--protect takes none, previews or all, not '" + args.protect + "'"});
    }
  }
  auto data = DataDir::open(global, DataDir::stores);
  auto written =
      updateSiteSettings(*data.pointers, args.site, [&](SiteSettings& settings) -> Result<void> {
        for (const auto& h : args.add_hosts) {
          std::string host = normalizeHost(h);
          if (host.empty() || host.find_first_of("/ \t") != std::string::npos) {
            return fail(Errc::invalid_argument, "'" + h + "' is not a host name");
          }
          if (std::find(settings.hosts.begin(), settings.hosts.end(), host) ==
              settings.hosts.end()) {
            settings.hosts.push_back(host);
          }
        }
        for (const auto& h : args.remove_hosts) std::erase(settings.hosts, normalizeHost(h));
        if (args.spa) settings.spa = *args.spa;
        if (args.max_age) settings.max_age = *args.max_age;
        if (protect || args.rotate_key) {
          settings.setProtection(protect.value_or(settings.protect), args.rotate_key);
        }
        return {};
      });
  if (!written) return reportError(written.error());
  std::string hosts = args.site + ".localhost";
  for (const auto& h : written->hosts) hosts += ", " + h;
  std::printf("%s answers at %s\n", args.site.c_str(), hosts.c_str());
  std::printf("  spa %s, max-age %us for files neither HTML nor content-hashed\n",
              written->spa ? "on" : "off", written->max_age);
  static constexpr const char* kProtection[] = {
      "every host is public",
      "previews answer only through a share link (cutover previews link) or the bypass header",
      "every host, the site's own too, answers only through a share link or the bypass header"};
  std::printf("  protected: %s: %s\n", std::string(toString(written->protect)).c_str(),
              kProtection[static_cast<int>(written->protect)]);
  if (args.rotate_key) {
    std::printf(
        "  new access key: every share link, access cookie and bypass secret given "
        "before is void\n");
  }
  return kExitOk;
}

}  // namespace

void addSitesCommands(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto json = std::make_shared<bool>(false);
  auto* sites = app.add_subcommand(
      "sites", "List sites: live version, since when, by which deploy, host names");
  sites->add_flag("--json", *json, "Print a JSON array");
  sites->footer("Example:\n  cutover sites\n");
  sites->callback(
      [&global, &run, json] { run = [&global, json] { return runSites(global, *json, false); }; });

  auto* status =
      app.add_subcommand("status", "Sites with their live versions, and the latest deploys");
  status->footer("Example:\n  cutover status\n");
  status->callback([&global, &run] { run = [&global] { return runSites(global, false, true); }; });

  auto args = std::make_shared<SiteSetArgs>();
  auto* site = app.add_subcommand("site", "Change a site's settings");
  site->require_subcommand(1);
  auto* set = site->add_subcommand("set",
                                   "Set a site's host names and serving settings (kept in the "
                                   "pointer store, seen by every edge)");
  set->add_option("site", args->site, "The site's name")->required();
  set->add_option("--host", args->add_hosts, "A host name the site answers at (repeatable)");
  set->add_option("--remove-host", args->remove_hosts, "A host name to stop answering at");
  set->add_option("--spa", args->spa,
                  "on: a path with no file and no extension serves /index.html (single-page apps)");
  set->add_option("--max-age", args->max_age,
                  "Seconds browsers may cache files that are neither HTML nor named by a content "
                  "hash (default 60)");
  set->add_option("--protect", args->protect,
                  "Who sees the site: none (everyone, the default), previews (preview hosts only "
                  "through a share link or the bypass header), all (its own hosts too)");
  set->add_flag("--rotate-key", args->rotate_key,
                "Make a new access key: every share link, access cookie and bypass secret given "
                "before stops working");
  set->footer(
      "Every site also answers at SITE.localhost.\n\nExamples:\n  cutover site set docs --host "
      "docs.example.com\n  cutover site set app --spa on --max-age 300\n"
      "  cutover site set docs --protect previews\n");
  set->callback(
      [&global, &run, args] { run = [&global, args] { return runSiteSet(global, *args); }; });
}

}  // namespace cutover::cli
