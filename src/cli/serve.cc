#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/edge/edge_server.h"

namespace cutover::cli {
namespace {

int runServe(const GlobalOptions& global, const EdgeOptions& options) {
  auto data = DataDir::open(global.data_dir, DataDir::stores);
  // Signals are taken synchronously below, so block them in every thread the server starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = makeEdgeServer(data.objects, data.pointers, options);
  if (auto started = server->start(); !started) return reportError(started.error());
  int signal = 0;
  sigwait(&signals, &signal);
  std::fprintf(stderr, "cutover: %s received, finishing in-flight requests\n",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  server->stop();
  return kExitOk;
}

}  // namespace

void addServeCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  struct ServeArgs {
    EdgeOptions options;
    bool no_version_header = false;
  };
  auto args = std::make_shared<ServeArgs>();
  auto* options = &args->options;
  auto* cmd = app.add_subcommand("serve", "Serve every site's live version over HTTP");
  cmd->add_option("--listen,-l", options->listen, "Address and port to listen on (default 127.0.0.1:8080)");
  cmd->add_option("--threads", options->threads, "Server threads (default: one per core)");
  cmd->add_option("--preview-domain", options->preview_domain, "Domain of preview host names");
  cmd->add_flag("--no-version-header", args->no_version_header, "Do not send X-Cutover-Version");
  cmd->footer(
      "A site named S answers at http://S.localhost:PORT/ and at its configured host names\n"
      "(cutover site set S --host NAME). Deploys, rollbacks and activations made by other\n"
      "processes are served within milliseconds, without a restart. SIGTERM or SIGINT stops\n"
      "accepting and finishes in-flight requests.\n\n"
      "Example:\n  cutover serve --listen 127.0.0.1:8080\n");
  cmd->callback([&global, &run, args] {
    args->options.version_header = !args->no_version_header;
    run = [&global, args] { return runServe(global, args->options); };
  });
}

}  // namespace cutover::cli
