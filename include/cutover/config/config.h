#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/source_limits.h"

namespace cutover {

// [sites.NAME.previews]: which branches and pull requests build as previews, each at its own
// alias host (<alias>--<site>.<preview domain>, see cutover/pointer/aliases.h), never live.
struct PreviewConfig {
  // Branches (besides the production one) that build as previews: names or glob patterns
  // ("*", "feature/*"; '*' also matches '/'). Empty: pushes to other branches are ignored.
  std::vector<std::string> branches;
  bool pull_requests = true;  // pull/merge request webhooks build previews at pr-<N>--<site>
  // Pull requests from forks build too. Off by default: a fork's code would build with the
  // site's variables, and anyone can open one on a public repository.
  bool forks = false;
  // An alias without a new build for this long stops answering and gc may collect it.
  std::chrono::seconds expires{30 * 24 * 3600};
  std::size_t max = 20;  // aliases per site; a new one retires the least recently built
  // Variables of every preview build, over the site's env; then those of the first
  // [previews.branch_env."PATTERN"] whose pattern matches the branch.
  std::map<std::string, std::string> env;
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> branch_env;

  // Whether a push to `branch` (not the production one) builds a preview.
  [[nodiscard]] bool buildsBranch(std::string_view branch) const;
  // The variables a preview build of `branch` gets besides the site's env.
  [[nodiscard]] std::map<std::string, std::string> envFor(std::string_view branch) const;
};

// One `[sites.NAME]` table of cutover.toml: where a site's source lives, how it is built, and
// what the edge needs to know about it.
struct SiteConfig {
  std::string name;
  // A URL git can fetch, or a local path (made absolute against the config file's folder).
  // Empty: the site is deployed by uploads and `cutover deploy` only, never built.
  std::string repo;
  std::string branch = "main";
  std::string build;                       // run by /bin/sh -c in the checkout; required with repo
  std::string output = "public";           // the folder the build writes, relative to the checkout
  std::map<std::string, std::string> env;  // the build's variables besides PATH, HOME, LANG
  std::chrono::seconds build_timeout{600};
  // Host names and [sites.NAME.settings]: written to the site's settings in the pointer store
  // when `cutover serve` or `cutover pipeline` starts, so every edge sees them. A site that
  // lists hosts answers at exactly those (besides NAME.localhost); unset settings keep what
  // `cutover site set` gave them.
  std::vector<std::string> hosts;
  std::optional<bool> spa;                // settings.spa
  std::optional<std::uint32_t> max_age;   // settings.max_age, seconds
  std::optional<std::string> protect;     // settings.protect: "none", "previews" or "all"
  std::chrono::seconds poll_interval{0};  // 0: no polling
  // The webhook secret, written in the file, or the name of the environment variable holding it
  // (read when a webhook arrives, so the file need not hold secrets).
  std::string webhook_secret;
  std::string secret_env;
  // The build runs under bwrap (see README "Builds"): a minimal read-only system, its own
  // workspace, an unprivileged user, no view of the data folder, the config or other processes.
  // false is an explicit opt-out that `serve` warns about.
  bool sandbox = true;
  bool network = true;  // the build may reach the network (npm ci); false: none at all
  // Limits of one build (its wall time is build_timeout).
  std::uint64_t build_memory = std::uint64_t{4} << 30;      // data bytes per process
  std::uint64_t build_processes = 1024;                     // processes of the build user
  std::uint64_t build_file_limit = std::uint64_t{2} << 30;  // the largest file it may write
  std::uint64_t build_log_limit = std::uint64_t{50} << 20;  // its log; the rest is cut
  bool build_cache = true;  // keep package manager caches between this site's builds
  // [sites.NAME.limits]: this site's deploy limits; unset ones come from the top-level [limits].
  std::optional<std::uint64_t> max_file_bytes, max_total_bytes, max_files;
  PreviewConfig previews;

  // The webhook secret: the literal one, else $secret_env's value; empty if neither is set.
  [[nodiscard]] std::string resolveWebhookSecret() const;
  [[nodiscard]] bool builds() const { return !repo.empty(); }
};

// cutover.toml: the sites, and how `cutover serve` and `cutover pipeline` run.
struct Config {
  std::filesystem::path file;      // the file it was read from (for messages)
  std::filesystem::path data_dir;  // empty: not set (the command line's --data-dir applies)
  std::string store;               // ObjectStore URI; empty: <data>/objects
  std::string pointers;            // PointerStore URI; empty: <data>/pointers
  std::string serve_listen = "127.0.0.1:8080";  // [serve] listen: the edge
  std::string api_listen = "127.0.0.1:8081";    // [api] listen: the admin API
  // [api] limits on remote deploys waiting for their uploads and finalize (see ApiOptions).
  std::size_t api_max_pending_deploys = 8;                   // [api] max_pending_deploys
  std::size_t api_max_pending_deploys_per_site = 2;          // [api] max_pending_deploys_per_site
  std::chrono::seconds api_pending_deploy_timeout{15 * 60};  // [api] pending_deploy_timeout
  // [serve] and [api] max_connections and max_connections_per_client (0: no bound per client);
  // unset: the server's default, or the command line's flag, which wins.
  struct ConnectionBounds {
    std::optional<std::size_t> total;
    std::optional<std::size_t> per_client;
  };
  ConnectionBounds serve_connections;
  ConnectionBounds api_connections;
  unsigned workers = 2;           // builds run at once (one per site at a time)
  std::vector<SiteConfig> sites;  // sorted by name
  SourceLimits limits;  // [limits]: max_file_size, max_total_size, max_files for every site

  // The site named `name`, or nullptr.
  [[nodiscard]] const SiteConfig* site(std::string_view name) const;
  // The deploy limits of site `name`: its own [sites.NAME.limits] over the global [limits].
  [[nodiscard]] SourceLimits limitsFor(std::string_view name) const;
};

// Parses cutover.toml text. `file` names it in messages ("cutover.toml:LINE:COL: what") and
// relative paths in it are resolved against its folder. Errors are invalid_argument.
[[nodiscard]] Result<Config> parseConfig(std::string_view text, const std::filesystem::path& file);

// Reads and parses `file` (not_found if it does not exist).
[[nodiscard]] Result<Config> loadConfig(const std::filesystem::path& file);

// "90" (seconds), "90s", "10m", "1h", "7d", "500ms" → milliseconds; nullopt if malformed or
// longer than a century.
[[nodiscard]] std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

}  // namespace cutover
