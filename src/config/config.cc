#include "cutover/config/config.h"

#include <fmt/format.h>
#include <fnmatch.h>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cutover/common/byte_size.h"
#include "cutover/common/names.h"

namespace cutover {
namespace {

// Reads typed values out of toml++ nodes and turns every problem into
// "FILE:LINE:COL: what", the position of the offending key or value.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[nodiscard]] tl::unexpected<Error> at(const toml::source_region& where,
                                         const std::string& what) const {
    return fail(Errc::invalid_argument,
                fmt::format("{}:{}:{}: {}", file_, where.begin.line, where.begin.column, what));
  }

  Result<std::string> string(const toml::node& node, std::string_view key) const {
    if (auto v = node.value<std::string>(); v && node.is_string()) return *v;
    return at(node.source(), fmt::format("{} must be a string", key));
  }

  Result<bool> boolean(const toml::node& node, std::string_view key) const {
    if (node.is_boolean()) return *node.value<bool>();
    return at(node.source(), fmt::format("{} must be true or false", key));
  }

  Result<std::int64_t> integer(const toml::node& node, std::string_view key, std::int64_t min,
                               std::int64_t max) const {
    if (node.is_integer()) {
      auto v = *node.value<std::int64_t>();
      if (v >= min && v <= max) return v;
    }
    return at(node.source(), fmt::format("{} must be a whole number from {} to {}", key, min, max));
  }

  // A whole number of seconds, or a string like "90s", "10m", "1h".
  Result<std::chrono::seconds> seconds(const toml::node& node, std::string_view key) const {
    if (node.is_integer() && *node.value<std::int64_t>() >= 0) {
      return std::chrono::seconds(*node.value<std::int64_t>());
    }
    if (node.is_string()) {
      if (auto d = parseDuration(*node.value<std::string>())) {
        return std::chrono::ceil<std::chrono::seconds>(*d);
      }
    }
    return at(
        node.source(),
        fmt::format("{} must be a number of seconds or a duration like \"90s\", \"10m\", \"1h\"",
                    key));
  }

  // A size in bytes: a whole number, or a string like "512MiB", "4GiB", "50MB"; at least `min`.
  Result<std::uint64_t> bytes(const toml::node& node, std::string_view key,
                              std::uint64_t min = 1) const {
    std::optional<std::uint64_t> v;
    if (node.is_integer() && *node.value<std::int64_t>() >= 0) {
      v = static_cast<std::uint64_t>(*node.value<std::int64_t>());
    } else if (node.is_string()) {
      v = parseByteSize(*node.value<std::string>());
    }
    if (v && *v >= min) return *v;
    return at(node.source(),
              fmt::format("{} must be a size of at least {}, in bytes or like \"512MiB\", \"4GiB\"",
                          key, formatByteSize(min)));
  }

  Result<const toml::table*> table(const toml::node& node, std::string_view key) const {
    if (const auto* t = node.as_table()) return t;
    return at(node.source(), fmt::format("{} must be a table", key));
  }

  [[nodiscard]] tl::unexpected<Error> unknownKey(const toml::key& key, std::string_view where,
                                                 std::string_view known) const {
    return at(key.source(),
              fmt::format("unknown key '{}' in {} (known: {})", key.str(), where, known));
  }

 private:
  std::string file_;
};

// [api] keys besides listen: the limits on pending remote deploys.
Result<void> parseApiLimit(const Reader& r, const toml::key& key, const toml::node& value,
                           Config& config) {
  std::string name(key.str());
  if (name == "max_pending_deploys" || name == "max_pending_deploys_per_site") {
    auto v = r.integer(value, "api." + name, 1, 10'000);
    if (!v) return tl::unexpected(v.error());
    (name == "max_pending_deploys" ? config.api_max_pending_deploys
                                   : config.api_max_pending_deploys_per_site) =
        static_cast<std::size_t>(*v);
    return {};
  }
  if (name == "pending_deploy_timeout") {
    auto v = r.seconds(value, "api.pending_deploy_timeout");
    if (!v) return tl::unexpected(v.error());
    if (v->count() == 0) return r.at(value.source(), "api.pending_deploy_timeout must be over 0");
    config.api_pending_deploy_timeout = *v;
    return {};
  }
  return r.unknownKey(key, "[api]",
                      "listen, max_connections, max_connections_per_client, "
                      "max_pending_deploys, max_pending_deploys_per_site, pending_deploy_timeout");
}

nlohmann::json toJson(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : *t) out[std::string(k.str())] = toJson(v);
    return out;
  }
  if (const auto* a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : *a) out.push_back(toJson(v));
    return out;
  }
  if (node.is_string()) return *node.value<std::string>();
  if (node.is_integer()) return *node.value<std::int64_t>();
  if (node.is_floating_point()) return *node.value<double>();
  if (node.is_boolean()) return *node.value<bool>();
  // Dates and times: kept as their TOML text.
  std::ostringstream text;
  if (const auto* d = node.as_date()) text << *d;
  if (const auto* t = node.as_time()) text << *t;
  if (const auto* dt = node.as_date_time()) text << *dt;
  return text.str();
}

// A repo written as a local path becomes absolute (against the config's folder); URLs and
// scp-like "host:path" stay as written.
std::string resolveRepo(const std::string& repo, const std::filesystem::path& base) {
  if (repo.find("://") != std::string::npos) return repo;
  auto colon = repo.find(':');
  auto slash = repo.find('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon < slash)) return repo;
  std::filesystem::path p(repo);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal().string();
}

constexpr std::string_view kLimitKeys = "max_file_size, max_total_size, max_files";

// A [limits] table, globally or for one site: each key it sets, into `set`.
template <class Set>
Result<void> parseLimits(const Reader& r, const toml::node& node, const std::string& where,
                         Set set) {
  auto t = r.table(node, where);
  if (!t) return tl::unexpected(t.error());
  for (const auto& [key, value] : **t) {
    std::string full = where + "." + std::string(key.str());
    if (key.str() == "max_file_size" || key.str() == "max_total_size") {
      auto v = r.bytes(value, full);
      if (!v) return tl::unexpected(v.error());
      set(key.str(), *v);
    } else if (key.str() == "max_files") {
      auto v = r.integer(value, full, 1, std::numeric_limits<std::int64_t>::max());
      if (!v) return tl::unexpected(v.error());
      set(key.str(), static_cast<std::uint64_t>(*v));
    } else {
      return r.unknownKey(key, "[" + where + "]", kLimitKeys);
    }
  }
  return {};
}

// A key of [sites.NAME] being parsed: its value, its name in messages ("sites.docs.branch"),
// and the site it sets. Each key has a parser below, grouped by the feature it configures.
struct SiteKeyValue {
  const Reader& r;
  const toml::node& value;
  std::string full;
  SiteConfig& site;

  [[nodiscard]] tl::unexpected<Error> bad(const std::string& what) const {
    return r.at(value.source(), what);
  }
};
using SiteKeyParser = Result<void> (*)(const SiteKeyValue& k);

// Stores a value read, or passes its error on.
template <class T, class Field>
Result<void> store(Result<T> v, Field& into) {
  if (!v) return tl::unexpected(v.error());
  into = std::move(*v);
  return {};
}

template <std::string SiteConfig::*field>
Result<void> text(const SiteKeyValue& k) {
  return store(k.r.string(k.value, k.full), k.site.*field);
}

template <bool SiteConfig::*field>
Result<void> flag(const SiteKeyValue& k) {
  return store(k.r.boolean(k.value, k.full), k.site.*field);
}

// The source: where it comes from, how it is built, what the build publishes.

Result<void> parseRepo(const SiteKeyValue& k) {
  if (auto ok = text<&SiteConfig::repo>(k); !ok) return ok;
  if (k.site.repo.empty()) return k.bad(k.full + " must not be empty");
  return {};
}

Result<void> parseBranch(const SiteKeyValue& k) {
  if (auto ok = text<&SiteConfig::branch>(k); !ok) return ok;
  const std::string& b = k.site.branch;
  if (b.empty() || b.find_first_of(" \t\n~^:?*[\\") != std::string::npos || b.starts_with('-')) {
    return k.bad(fmt::format("{} '{}' is not a valid branch name", k.full, b));
  }
  return {};
}

Result<void> parseOutput(const SiteKeyValue& k) {
  if (auto ok = text<&SiteConfig::output>(k); !ok) return ok;
  std::filesystem::path out = std::filesystem::path(k.site.output).lexically_normal();
  if (out.is_absolute() || out.empty() || *out.begin() == ".." || out == ".") {
    return k.bad(
        fmt::format("{} '{}' must name a folder inside the checkout (not the checkout "
                    "itself, which would publish .git)",
                    k.full, k.site.output));
  }
  return {};
}

Result<void> parseEnvTable(const Reader& r, const toml::node& value, const std::string& full,
                           std::map<std::string, std::string>& into) {
  auto t = r.table(value, full);
  if (!t) return tl::unexpected(t.error());
  for (const auto& [var, val] : **t) {
    auto name = std::string(var.str());
    if (name.empty() || name.find('=') != std::string::npos) {
      return r.at(var.source(), fmt::format("'{}' is not an environment variable name", name));
    }
    if (val.is_string()) {
      into[name] = *val.value<std::string>();
    } else if (val.is_integer() || val.is_boolean() || val.is_floating_point()) {
      into[name] = toJson(val).dump();
    } else {
      return r.at(val.source(), fmt::format("{}.{} must be a string", full, name));
    }
  }
  return {};
}

Result<void> parseEnv(const SiteKeyValue& k) {
  return parseEnvTable(k.r, k.value, k.full, k.site.env);
}

// Previews: which branches and pull requests build as previews, and how long their aliases live.

bool validBranchPattern(std::string_view b) {
  return !b.empty() && b.find_first_of(" \t\n~^:?[\\") == std::string_view::npos &&
         !b.starts_with('-');
}

std::string badBranchPattern(std::string_view full, std::string_view b) {
  return fmt::format("{}: '{}' is not a branch name or pattern (a name, or '*' for any characters)",
                     full, b);
}

Result<void> parsePreviews(const SiteKeyValue& k) {
  auto t = k.r.table(k.value, k.full);
  if (!t) return tl::unexpected(t.error());
  PreviewConfig& p = k.site.previews;
  for (const auto& [key, value] : **t) {
    std::string name(key.str());
    std::string full = k.full + "." + name;
    if (name == "branches") {
      const auto* a = value.as_array();
      if (a == nullptr) return k.r.at(value.source(), full + " must be an array of branch names");
      for (const auto& b : *a) {
        auto pattern = k.r.string(b, full + "[]");
        if (!pattern) return tl::unexpected(pattern.error());
        if (!validBranchPattern(*pattern)) {
          return k.r.at(b.source(), badBranchPattern(full, *pattern));
        }
        p.branches.push_back(std::move(*pattern));
      }
    } else if (name == "pull_requests") {
      if (auto ok = store(k.r.boolean(value, full), p.pull_requests); !ok) return ok;
    } else if (name == "forks") {
      if (auto ok = store(k.r.boolean(value, full), p.forks); !ok) return ok;
    } else if (name == "expires") {
      if (auto ok = store(k.r.seconds(value, full), p.expires); !ok) return ok;
      if (p.expires.count() == 0) return k.r.at(value.source(), full + " must be more than 0");
    } else if (name == "max") {
      auto v = k.r.integer(value, full, 1, 10'000);
      if (!v) return tl::unexpected(v.error());
      p.max = static_cast<std::size_t>(*v);
    } else if (name == "env") {
      if (auto ok = parseEnvTable(k.r, value, full, p.env); !ok) return ok;
    } else if (name == "branch_env") {
      auto patterns = k.r.table(value, full);
      if (!patterns) return tl::unexpected(patterns.error());
      for (const auto& [pattern_key, env] : **patterns) {
        std::string pattern(pattern_key.str());
        auto where = fmt::format("{}.\"{}\"", full, pattern);
        if (!validBranchPattern(pattern)) {
          return k.r.at(pattern_key.source(), badBranchPattern(full, pattern));
        }
        std::map<std::string, std::string> vars;
        if (auto ok = parseEnvTable(k.r, env, where, vars); !ok) return ok;
        p.branch_env.emplace_back(std::move(pattern), std::move(vars));
      }
    } else {
      return k.r.unknownKey(key, "[" + k.full + "]",
                            "branches, pull_requests, forks, expires, max, env, branch_env");
    }
  }
  return {};
}

Result<void> parseBuildTimeout(const SiteKeyValue& k) {
  if (auto ok = store(k.r.seconds(k.value, k.full), k.site.build_timeout); !ok) return ok;
  if (k.site.build_timeout.count() == 0) return k.bad(k.full + " must be more than 0");
  return {};
}

// What the edge serves: the site's hosts and [settings].

Result<void> parseHosts(const SiteKeyValue& k) {
  const auto* a = k.value.as_array();
  if (a == nullptr) return k.bad(k.full + " must be an array of host names");
  for (const auto& h : *a) {
    auto v = k.r.string(h, k.full + "[]");
    if (!v) return tl::unexpected(v.error());
    auto host = normalizeHost(*v);
    if (host.empty()) return k.r.at(h.source(), k.full + " holds an empty host name");
    k.site.hosts.push_back(std::move(host));
  }
  return {};
}

Result<void> parseSettings(const SiteKeyValue& k) {
  auto t = k.r.table(k.value, k.full);
  if (!t) return tl::unexpected(t.error());
  for (const auto& [setting, setting_value] : **t) {
    std::string setting_key = k.full + "." + std::string(setting.str());
    if (setting.str() == "spa") {
      auto v = k.r.boolean(setting_value, setting_key);
      if (!v) return tl::unexpected(v.error());
      k.site.spa = *v;
    } else if (setting.str() == "max_age") {
      auto v = k.r.seconds(setting_value, setting_key);
      if (!v) return tl::unexpected(v.error());
      if (v->count() > std::numeric_limits<std::int32_t>::max()) {
        return k.r.at(setting_value.source(), setting_key + " is too large");
      }
      k.site.max_age = static_cast<std::uint32_t>(v->count());
    } else if (setting.str() == "protect") {
      auto v = k.r.string(setting_value, setting_key);
      if (!v) return tl::unexpected(v.error());
      if (*v != "none" && *v != "previews" && *v != "all") {
        return k.r.at(setting_value.source(),
                      setting_key + " must be \"none\", \"previews\" or \"all\"");
      }
      k.site.protect = *v;
    } else {
      return k.r.unknownKey(setting, "[" + k.full + "]", "spa, max_age, protect");
    }
  }
  return {};
}

// What starts a build: polling, or a signed webhook.

Result<void> parsePollInterval(const SiteKeyValue& k) {
  return store(k.r.seconds(k.value, k.full), k.site.poll_interval);
}

// The build's sandbox and limits.

template <std::uint64_t SiteConfig::*field>
Result<void> buildBytes(const SiteKeyValue& k) {
  return store(k.r.bytes(k.value, k.full, std::uint64_t{1} << 20), k.site.*field);
}

Result<void> parseBuildProcesses(const SiteKeyValue& k) {
  auto v = k.r.integer(k.value, k.full, 16, 1 << 20);
  if (!v) return tl::unexpected(v.error());
  k.site.build_processes = static_cast<std::uint64_t>(*v);
  return {};
}

// The deploy's limits.

Result<void> parseSiteLimits(const SiteKeyValue& k) {
  return parseLimits(k.r, k.value, k.full, [&](std::string_view limit, std::uint64_t v) {
    (limit == "max_file_size"    ? k.site.max_file_bytes
     : limit == "max_total_size" ? k.site.max_total_bytes
                                 : k.site.max_files) = v;
  });
}

struct SiteKey {
  std::string_view name;
  SiteKeyParser parse;
  bool listed = true;  // false: an old name, accepted but not offered in messages
};

constexpr SiteKey kSiteKeys[] = {
    {"repo", parseRepo},
    {"branch", parseBranch},
    {"build", text<&SiteConfig::build>},
    {"output", parseOutput},
    {"env", parseEnv},
    {"build_timeout", parseBuildTimeout},
    {"hosts", parseHosts},
    {"settings", parseSettings},
    {"poll_interval", parsePollInterval},
    {"webhook_secret", text<&SiteConfig::webhook_secret>},
    {"secret_env", text<&SiteConfig::secret_env>},
    {"sandbox", flag<&SiteConfig::sandbox>},
    {"network", flag<&SiteConfig::network>},
    {"sandbox_network", flag<&SiteConfig::network>, false},  // network's old name
    {"build_memory", buildBytes<&SiteConfig::build_memory>},
    {"build_processes", parseBuildProcesses},
    {"build_file_limit", buildBytes<&SiteConfig::build_file_limit>},
    {"build_log_limit", buildBytes<&SiteConfig::build_log_limit>},
    {"build_cache", flag<&SiteConfig::build_cache>},
    {"limits", parseSiteLimits},
    {"previews", parsePreviews},
};

const SiteKey* findSiteKey(std::string_view name) {
  for (const auto& k : kSiteKeys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::string listSiteKeys() {
  std::string out;
  for (const auto& k : kSiteKeys) {
    if (k.listed) out += (out.empty() ? "" : ", ") + std::string(k.name);
  }
  return out;
}

// What no single key can check: the keys a build needs, and the ones that need a build.
Result<void> checkSite(const Reader& r, const toml::key& name, const toml::table& table,
                       const std::string& where, SiteConfig& site,
                       const std::filesystem::path& base) {
  if (site.builds()) {
    if (site.build.empty()) {
      return r.at(name.source(), fmt::format("{}: a build command (build = \"...\") is required "
                                             "when repo is set",
                                             where));
    }
    site.repo = resolveRepo(site.repo, base);
  } else {
    for (std::string_view needs_repo : {"build", "poll_interval", "previews"}) {
      if (table.contains(needs_repo)) {
        return r.at(table.get(needs_repo)->source(),
                    fmt::format("{}: {} is set but repo is not", where, needs_repo));
      }
    }
  }
  if (!site.webhook_secret.empty() && !site.secret_env.empty()) {
    return r.at(name.source(),
                fmt::format("{}: set webhook_secret or secret_env, not both", where));
  }
  return {};
}

Result<SiteConfig> parseSite(const Reader& r, const toml::key& name, const toml::node& node,
                             const std::filesystem::path& base) {
  SiteConfig site;
  site.name = std::string(name.str());
  if (auto ok = validateSiteName(site.name); !ok) return r.at(name.source(), ok.error().message);
  auto table = r.table(node, "sites." + site.name);
  if (!table) return tl::unexpected(table.error());
  const std::string where = "[sites." + site.name + "]";
  for (const auto& [key, value] : **table) {
    const SiteKey* k = findSiteKey(key.str());
    if (k == nullptr) return r.unknownKey(key, where, listSiteKeys());
    auto ok = k->parse({r, value, "sites." + site.name + "." + std::string(key.str()), site});
    if (!ok) return tl::unexpected(ok.error());
  }
  if (auto ok = checkSite(r, name, **table, where, site, base); !ok) {
    return tl::unexpected(ok.error());
  }
  return site;
}

constexpr std::string_view kTopKeys =
    "data_dir, store, pointers, workers, serve, api, limits, sites";

}  // namespace

bool PreviewConfig::buildsBranch(std::string_view branch) const {
  std::string name(branch);
  return std::any_of(branches.begin(), branches.end(), [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
  });
}

std::map<std::string, std::string> PreviewConfig::envFor(std::string_view branch) const {
  auto vars = env;
  std::string name(branch);
  for (const auto& [pattern, extra] : branch_env) {
    if (::fnmatch(pattern.c_str(), name.c_str(), 0) != 0) continue;
    for (const auto& [k, v] : extra) vars[k] = v;
    break;
  }
  return vars;
}

std::string SiteConfig::resolveWebhookSecret() const {
  if (!webhook_secret.empty()) return webhook_secret;
  if (secret_env.empty()) return {};
  const char* v = std::getenv(secret_env.c_str());
  return v == nullptr ? std::string() : std::string(v);
}

const SiteConfig* Config::site(std::string_view name) const {
  for (const auto& s : sites) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

SourceLimits Config::limitsFor(std::string_view name) const {
  SourceLimits out = limits;
  if (const SiteConfig* s = site(name)) {
    out.max_file_bytes = s->max_file_bytes.value_or(out.max_file_bytes);
    out.max_total_bytes = s->max_total_bytes.value_or(out.max_total_bytes);
    out.max_files = s->max_files.value_or(out.max_files);
  }
  return out;
}

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data() || n < 0) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t ms_per_unit = 0;
  if (unit.empty() || unit == "s") ms_per_unit = 1000;
  if (unit == "ms") ms_per_unit = 1;
  if (unit == "m") ms_per_unit = 60'000;
  if (unit == "h") ms_per_unit = 3'600'000;
  if (unit == "d") ms_per_unit = 86'400'000;
  // Nothing cutover times lasts a century; beyond that a number is a typo (or overflows).
  constexpr std::int64_t kCenturyMs = 100LL * 366 * 86'400'000;
  if (ms_per_unit == 0 || n > kCenturyMs / ms_per_unit) return std::nullopt;
  return std::chrono::milliseconds(n * ms_per_unit);
}

Result<Config> parseConfig(std::string_view text, const std::filesystem::path& file) {
  Reader r(file.string());
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    return r.at(e.source(), std::string(e.description()));
  }
  Config config;
  config.file = file;
  auto base = std::filesystem::absolute(file).parent_path();
  std::set<std::string> hosts_seen;
  for (const auto& [key, value] : root) {
    auto k = key.str();
    if (k == "data_dir") {
      auto v = r.string(value, k);
      if (!v) return tl::unexpected(v.error());
      if (v->empty()) return r.at(value.source(), "data_dir must not be empty");
      std::filesystem::path p(*v);
      config.data_dir = (p.is_relative() ? base / p : p).lexically_normal();
    } else if (k == "store" || k == "pointers") {
      auto v = r.string(value, k);
      if (!v) return tl::unexpected(v.error());
      (k == "store" ? config.store : config.pointers) = *v;
    } else if (k == "workers") {
      auto v = r.integer(value, k, 1, 64);
      if (!v) return tl::unexpected(v.error());
      config.workers = static_cast<unsigned>(*v);
    } else if (k == "serve" || k == "api") {
      auto t = r.table(value, k);
      if (!t) return tl::unexpected(t.error());
      for (const auto& [sub, subvalue] : **t) {
        if (sub.str() == "max_connections" || sub.str() == "max_connections_per_client") {
          bool total = sub.str() == "max_connections";
          auto v = r.integer(subvalue, std::string(k) + "." + std::string(sub.str()), total ? 1 : 0,
                             1'000'000);
          if (!v) return tl::unexpected(v.error());
          auto& bounds = k == "serve" ? config.serve_connections : config.api_connections;
          (total ? bounds.total : bounds.per_client) = static_cast<std::size_t>(*v);
          continue;
        }
        if (k == "api" && sub.str() != "listen") {
          auto ok = parseApiLimit(r, sub, subvalue, config);
          if (!ok) return tl::unexpected(ok.error());
          continue;
        }
        if (sub.str() != "listen") {
          return r.unknownKey(sub, "[" + std::string(k) + "]",
                              "listen, max_connections, max_connections_per_client");
        }
        auto v = r.string(subvalue, std::string(k) + ".listen");
        if (!v) return tl::unexpected(v.error());
        if (v->rfind(':') == std::string::npos) {
          return r.at(subvalue.source(), fmt::format("{}.listen '{}' must be HOST:PORT", k, *v));
        }
        (k == "serve" ? config.serve_listen : config.api_listen) = *v;
      }
    } else if (k == "limits") {
      auto ok = parseLimits(r, value, "limits", [&](std::string_view limit, std::uint64_t v) {
        (limit == "max_file_size"    ? config.limits.max_file_bytes
         : limit == "max_total_size" ? config.limits.max_total_bytes
                                     : config.limits.max_files) = v;
      });
      if (!ok) return tl::unexpected(ok.error());
    } else if (k == "sites") {
      auto t = r.table(value, "sites");
      if (!t) return tl::unexpected(t.error());
      for (const auto& [name, site_node] : **t) {
        auto site = parseSite(r, name, site_node, base);
        if (!site) return tl::unexpected(site.error());
        for (const auto& h : site->hosts) {
          if (!hosts_seen.insert(h).second) {
            return r.at(site_node.source(),
                        fmt::format("host '{}' is listed by more than one site", h));
          }
        }
        config.sites.push_back(std::move(*site));
      }
    } else {
      return r.unknownKey(key, "the top level", kTopKeys);
    }
  }
  std::sort(config.sites.begin(), config.sites.end(),
            [](const SiteConfig& a, const SiteConfig& b) { return a.name < b.name; });
  return config;
}

Result<Config> loadConfig(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      return fail(Errc::not_found, fmt::format("config file {} does not exist", file.string()));
    }
    return fail(Errc::io, fmt::format("cannot read config file {}", file.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseConfig(text.str(), file);
}

}  // namespace cutover
