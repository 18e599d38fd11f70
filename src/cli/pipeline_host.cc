#include "cli/pipeline_host.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cutover/pointer/records.h"
#include "runs/webhook.h"

namespace cutover::cli {
namespace {

std::string errorJson(std::string_view code, std::string_view message) {
  // Messages quote what a delivery sent; bytes that are not UTF-8 are replaced, never thrown on.
  return nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// POST /hooks/<site>: the config's site verifies the delivery; an accepted push is queued.
WebhookHandler webhookHandler(Workers& workers) {
  auto deliveries = std::make_shared<WebhookDeliveries>();  // replays are answered, not built
  return [&workers, deliveries](const std::string& site, const HeaderMap& headers,
                                const std::string& body) {
    auto now = workers.config();  // held for this delivery: a reload may replace it
    const SiteConfig* config = now->site(site);
    if (config == nullptr) {
      return WebhookReply{404, errorJson("not_found", "no site " + site + " in the config")};
    }
    WebhookHeaders list(headers.begin(), headers.end());
    auto verdict = acceptWebhook(workers, *config, list, body, deliveries.get());
    if (verdict.status >= 400) {
      std::string_view code = verdict.status == 401   ? "unauthorized"
                              : verdict.status == 503 ? "unavailable"
                                                      : "invalid_argument";
      return WebhookReply{verdict.status, errorJson(code, verdict.message)};
    }
    nlohmann::json answer{{"message", verdict.message}, {"provider", verdict.provider}};
    if (!verdict.deploy_id.empty()) {
      answer["deploy"] = verdict.deploy_id;
      answer["commit"] = verdict.after;
      answer["branch"] = verdict.branch;
    }
    return WebhookReply{verdict.status,
                        answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
  };
}

}  // namespace

Result<void> applySiteConfig(PointerStore& pointers, const Config& config) {
  for (const auto& site : config.sites) {
    if (site.hosts.empty() && !site.spa && !site.max_age && !site.protect) continue;
    bool changed = false;
    auto written =
        updateSiteSettings(pointers, site.name, [&](SiteSettings& settings) -> Result<void> {
          SiteSettings before = settings;
          if (!site.hosts.empty()) settings.hosts = site.hosts;
          if (site.spa) settings.spa = *site.spa;
          if (site.max_age) settings.max_age = *site.max_age;
          if (site.protect) {
            settings.setProtection(parseProtection(*site.protect).value_or(Protection::all));
          }
          changed = settings.toJson() != before.toJson();
          return {};
        });
    if (!written) {
      return fail(written.error().code,
                  "writing the settings of site " + site.name + ": " + written.error().message);
    }
    if (changed) {
      std::string hosts = site.name + ".localhost";
      for (const auto& h : written->hosts) hosts += ", " + h;
      std::fprintf(stderr,
                   "cutover: %s answers at %s (spa %s, max-age %u s, protected: %s), from %s\n",
                   site.name.c_str(), hosts.c_str(), written->spa ? "on" : "off", written->max_age,
                   std::string(toString(written->protect)).c_str(), config.file.c_str());
    }
  }
  return {};
}

Result<std::unique_ptr<PipelineHost>> PipelineHost::start(DataDir& data, Options options) {
  if (!data.config) return fail(Errc::invalid_argument, "the pipeline needs --config FILE");
  if (auto applied = applySiteConfig(*data.pointers, *data.config); !applied) {
    return tl::unexpected(applied.error());
  }
  std::unique_ptr<PipelineHost> host(new PipelineHost());
  WorkersOptions workers_options;
  workers_options.data_dir = data.root;
  auto workers = Workers::start(*data.config, data.context(), workers_options);
  if (!workers) return tl::unexpected(workers.error());
  host->workers_ = std::move(*workers);
  if (!options.api_listen.empty()) {
    ApiOptions api_options;
    api_options.listen = options.api_listen;
    api_options.site_url = options.site_url;
    api_options.webhook = webhookHandler(*host->workers_);
    auto api = ApiHost::start(data, std::move(api_options));
    if (!api) return tl::unexpected(api.error());
    host->api_ = std::move(*api);
  }
  return host;
}

Result<void> PipelineHost::reload(PointerStore& pointers, const Config& config) {
  if (auto applied = applySiteConfig(pointers, config); !applied) return applied;
  if (workers_) workers_->reconfigure(config);
  if (api_) api_->reconfigure(config);
  return {};
}

PipelineHost::~PipelineHost() { stop(); }

void PipelineHost::stop() {
  if (api_) api_->stop();
  if (workers_) workers_->stop();
}

}  // namespace cutover::cli
