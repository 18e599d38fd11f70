#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "cli/api_host.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cli/pipeline_host.h"
#include "cli/reload.h"
#include "cutover/edge/edge_server.h"
#include "runs/scheduled.h"

namespace cutover::cli {
namespace {

struct ServeArgs {
  EdgeOptions options;
  bool listen_set = false;
  bool no_version_header = false;
  std::string api_listen;
  bool api_listen_set = false;
  bool max_connections_set = false;
  bool max_connections_per_client_set = false;
  bool no_pipeline = false;
};

int runServe(const GlobalOptions& global, ServeArgs args) {
  bool pipeline = !global.config.empty() && !args.no_pipeline;
  // On one machine without a config, this process is also what performs scheduled activations
  // (`cutover schedule`), and records them in the history; with a config the pipeline does.
  bool scheduler = !pipeline && global.config.empty();
  auto data = DataDir::open(global, (pipeline    ? DataDir::all
                                     : scheduler ? DataDir::with_history
                                                 : DataDir::stores) |
                                        DataDir::edge_cache);
  EdgeOptions& options = args.options;
  if (data.config) {
    const auto& config = *data.config;
    if (!args.listen_set) options.listen = config.serve_listen;
    if (!args.max_connections_set && config.serve_connections.total) {
      options.max_connections = *config.serve_connections.total;
    }
    if (!args.max_connections_per_client_set && config.serve_connections.per_client) {
      options.max_connections_per_client = *config.serve_connections.per_client;
    }
  }
  // With a config the admin API runs too, on the config's address, unless told otherwise.
  std::string api_listen = args.api_listen;
  if (!args.api_listen_set && data.config) api_listen = data.config->api_listen;
  if (api_listen == "off") api_listen.clear();

  // Signals are taken synchronously below, so block them in every thread the server starts.
  sigset_t signals = blockServeSignals();

  // Settings first, so the edge starts with the config's host names.
  std::unique_ptr<PipelineHost> builders;
  std::unique_ptr<ApiHost> api;
  if (data.config && !pipeline) {
    if (auto applied = applySiteConfig(*data.pointers, *data.config); !applied) {
      return reportError(applied.error());
    }
  }
  auto server = makeEdgeServer(data.objects, data.pointers, options);
  if (auto started = server->start(); !started) return reportError(started.error());
  std::string site_url =
      "http://{site}." + options.preview_domain + ":" + std::to_string(server->port()) + "/";
  if (pipeline) {
    auto host = PipelineHost::start(data, PipelineHost::Options{api_listen, site_url});
    if (!host) return reportError(host.error());
    builders = std::move(*host);
    std::fprintf(stderr, "cutover: building %zu sites of %s with %u workers\n",
                 data.config->sites.size(), data.config->file.c_str(), data.config->workers);
  } else if (!api_listen.empty()) {
    ApiOptions api_options;
    api_options.listen = api_listen;
    api_options.site_url = site_url;
    auto host = ApiHost::start(data, std::move(api_options));
    if (!host) return reportError(host.error());
    api = std::move(*host);
  }
  std::unique_ptr<ScheduledActivations> scheduled;
  if (scheduler) scheduled = std::make_unique<ScheduledActivations>(data.context());
  std::unique_ptr<ConfigReloader> reloader;
  if (data.config)
    reloader = std::make_unique<ConfigReloader>(data, "serve", builders.get(), api.get());
  int signal = waitForStopSignal(signals, reloader.get());
  reloader.reset();
  std::fprintf(stderr, "cutover: %s received, finishing in-flight requests\n",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  if (builders) builders->stop();
  if (api) api->stop();
  server->stop();
  return kExitOk;
}

}  // namespace

void addServeCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<ServeArgs>();
  auto* options = &args->options;
  auto* cmd = app.add_subcommand("serve", "Serve every site's live version over HTTP");
  cmd->add_option("--listen,-l", options->listen,
                  "Address and port to listen on (default 127.0.0.1:8080, or the config's "
                  "[serve] listen)");
  cmd->add_option("--threads", options->threads, "Server threads (default: one per core)");
  cmd->add_option("--preview-domain", options->preview_domain, "Domain of preview host names");
  cmd->add_flag("--no-version-header", args->no_version_header, "Do not send X-Cutover-Version");
  cmd->add_option("--access-log", options->access_log,
                  "Write an access log to FILE, or - for standard output (default: none)");
  cmd->add_option("--access-log-format", options->access_log_format,
                  "vhost (default): the combined format followed by the Host, the site and the "
                  "version that answered; combined: exactly the combined format")
      ->check(CLI::IsMember({"vhost", "combined"}));
  cmd->add_option("--pin-window", options->pin_window_seconds,
                  "Seconds a page load's later requests stay on the version its HTML came from "
                  "(default 3600)");
  cmd->add_option("--max-connections", options->max_connections,
                  "Open connections; at the limit a new one closes the one idle the longest, "
                  "or gets 503 when none is idle (default 10000, or [serve] max_connections)");
  cmd->add_option("--max-connections-per-client", options->max_connections_per_client,
                  "Open connections from one client address (IPv6: one /64); beyond, 503; "
                  "0: no bound (default 256, or [serve] max_connections_per_client)");
  cmd->add_flag("!--no-sendfile", options->sendfile,
                "Stream large files through user space instead of sendfile(2)");
  cmd->add_option("--api-listen", args->api_listen,
                  "Also run the admin API (JSON over HTTP, bearer tokens) on this address, "
                  "e.g. 127.0.0.1:8081, or off (default: off; with --config the config's "
                  "[api] listen, 127.0.0.1:8081 unless set)");
  cmd->add_flag("--no-pipeline", args->no_pipeline,
                "With --config, serve only: run no build workers (another machine runs "
                "`cutover pipeline`)");
  cmd->footer(
      "A site named S answers at http://S.localhost:PORT/ and at its configured host names\n"
      "(cutover site set S --host NAME); every stored version V of it at\n"
      "http://V--S.localhost:PORT/ (a preview, sent with X-Robots-Tag: noindex). Deploys,\n"
      "rollbacks and activations made by other processes are served within milliseconds,\n"
      "without a restart. An HTML page sets a cookie that keeps the page's own later requests\n"
      "on its version (skew protection); ?dpl=V or an X-Cutover-Pin: V header pins explicitly.\n"
      "SIGTERM or SIGINT stops accepting and finishes in-flight requests.\n\n"
      "With --config FILE (cutover.toml) one process does everything: the edge, the admin API\n"
      "(webhooks at POST /hooks/SITE) and the build workers of the config's sites; the\n"
      "config's hosts and settings are written to the pointer store at start, and again on\n"
      "SIGHUP or `cutover reload`, which take the edited config without a restart. On a remote\n"
      "object store (s3://...) blobs and manifests are cached in DATA/cache; an object store\n"
      "that goes away leaves what is cached served and the rest answered 503, and a pointer\n"
      "store that goes away leaves the last pointers served.\n\n"
      "Examples:\n  cutover serve --listen 127.0.0.1:8080\n"
      "  cutover --config cutover.toml serve\n");
  cmd->callback([&global, &run, args, cmd] {
    args->options.version_header = !args->no_version_header;
    args->listen_set = cmd->count("--listen") > 0;
    args->api_listen_set = cmd->count("--api-listen") > 0;
    args->max_connections_set = cmd->count("--max-connections") > 0;
    args->max_connections_per_client_set = cmd->count("--max-connections-per-client") > 0;
    run = [&global, args] { return runServe(global, *args); };
  });
}

}  // namespace cutover::cli
