#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "cli/api_host.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/edge/edge_server.h"

namespace cutover::cli {
namespace {

int runServe(const GlobalOptions& global, const EdgeOptions& options, const std::string& api_listen) {
  auto data = DataDir::open(global.data_dir, DataDir::stores);
  // Signals are taken synchronously below, so block them in every thread the server starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = makeEdgeServer(data.objects, data.pointers, options);
  if (auto started = server->start(); !started) return reportError(started.error());
  // The admin API, on its own listener, when asked for.
  std::unique_ptr<ApiHost> api;
  if (!api_listen.empty()) {
    ApiOptions api_options;
    api_options.listen = api_listen;
    api_options.site_url = "http://{site}." + options.preview_domain + ":" +
                           std::to_string(server->port()) + "/";
    auto host = ApiHost::start(data, std::move(api_options));
    if (!host) return reportError(host.error());
    api = std::move(*host);
  }
  int signal = 0;
  sigwait(&signals, &signal);
  std::fprintf(stderr, "cutover: %s received, finishing in-flight requests\n",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  if (api) api->stop();
  server->stop();
  return kExitOk;
}

}  // namespace

void addServeCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  struct ServeArgs {
    EdgeOptions options;
    bool no_version_header = false;
    std::string api_listen;
  };
  auto args = std::make_shared<ServeArgs>();
  auto* options = &args->options;
  auto* cmd = app.add_subcommand("serve", "Serve every site's live version over HTTP");
  cmd->add_option("--listen,-l", options->listen,
                  "Address and port to listen on (default 127.0.0.1:8080)");
  cmd->add_option("--threads", options->threads, "Server threads (default: one per core)");
  cmd->add_option("--preview-domain", options->preview_domain, "Domain of preview host names");
  cmd->add_flag("--no-version-header", args->no_version_header, "Do not send X-Cutover-Version");
  cmd->add_option("--access-log", options->access_log,
                  "Write an access log in the combined format to FILE, or - for standard output "
                  "(default: none)");
  cmd->add_option("--pin-window", options->pin_window_seconds,
                  "Seconds a page load's later requests stay on the version its HTML came from "
                  "(default 3600)");
  cmd->add_option("--max-connections", options->max_connections,
                  "Open connections beyond which new ones get 503 (default 10000)");
  cmd->add_flag("!--no-sendfile", options->sendfile,
                "Stream large files through user space instead of sendfile(2)");
  cmd->add_option("--api-listen", args->api_listen,
                  "Also run the admin API (JSON over HTTP, bearer tokens) on this address, "
                  "e.g. 127.0.0.1:8081 (default: off)");
  cmd->footer(
      "A site named S answers at http://S.localhost:PORT/ and at its configured host names\n"
      "(cutover site set S --host NAME); every stored version V of it at\n"
      "http://V--S.localhost:PORT/ (a preview, sent with X-Robots-Tag: noindex). Deploys,\n"
      "rollbacks and activations made by other processes are served within milliseconds,\n"
      "without a restart. An HTML page sets a cookie that keeps the page's own later requests\n"
      "on its version (skew protection); ?dpl=V or an X-Cutover-Pin: V header pins explicitly.\n"
      "SIGTERM or SIGINT stops accepting and finishes in-flight requests.\n\n"
      "Example:\n  cutover serve --listen 127.0.0.1:8080\n");
  cmd->callback([&global, &run, args] {
    args->options.version_header = !args->no_version_header;
    run = [&global, args] { return runServe(global, args->options, args->api_listen); };
  });
}

}  // namespace cutover::cli
