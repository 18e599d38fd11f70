#include "cutover/pipeline/deploy.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cli/remote_deploy.h"
#include "cutover/common/byte_size.h"
#include "cutover/common/config_error.h"

namespace cutover::cli {
namespace {

struct DeployArgs {
  std::string source;
  std::string site;
  bool no_activate = false;
  bool json = false;
  bool no_precompress = false;
  unsigned threads = 0;
  std::string remote;  // an API URL: deploy there instead of into the data folder
  std::string token;
  std::string max_file_size, max_total_size;  // override the configured limits when set
  std::uint64_t max_files = 0;
  std::string preview_expires;  // how long the preview link answers ("7d"); "0": no link
};

// --preview-expires as seconds (the default when not given).
std::int64_t previewSeconds(const DeployArgs& args) {
  if (args.preview_expires.empty()) return kDefaultPreviewSeconds;
  auto seconds = parsePreviewExpiry(args.preview_expires, "--preview-expires");
  if (!seconds) throw ConfigError(seconds.error().message);
  return *seconds;
}

// The site's limits from the config (or the defaults), with the command line's over them.
SourceLimits deployLimits(const std::optional<Config>& config, const DeployArgs& args) {
  SourceLimits limits = config ? config->limitsFor(args.site) : SourceLimits{};
  auto size = [](const std::string& text, const char* flag, std::uint64_t& out) {
    if (text.empty()) return;
    auto n = parseByteSize(text);
    if (!n || *n == 0) {
      throw ConfigError(fmt::format("{} '{}' is not a size like 512MiB or 10GiB", flag, text));
    }
    out = *n;
  };
  size(args.max_file_size, "--max-file-size", limits.max_file_bytes);
  size(args.max_total_size, "--max-total-size", limits.max_total_bytes);
  if (args.max_files != 0) limits.max_files = args.max_files;
  return limits;
}

void printReport(const DeployReport& r, const std::filesystem::path& data_root) {
  std::printf("%s %s of %s\n", r.activated ? "deployed" : "stored", r.version.c_str(),
              r.site.c_str());
  std::printf("  files    %llu (%llu new, %llu reused), %s (%s new)\n",
              static_cast<unsigned long long>(r.files),
              static_cast<unsigned long long>(r.new_files),
              static_cast<unsigned long long>(r.reused_files), formatBytes(r.bytes).c_str(),
              formatBytes(r.new_bytes).c_str());
  const auto& c = r.precompressed;
  if (c.files != 0) {
    std::printf("  precompressed %llu files (br %s, gzip %s, from %s)\n",
                static_cast<unsigned long long>(c.files), formatBytes(c.br_bytes).c_str(),
                formatBytes(c.gzip_bytes).c_str(), formatBytes(c.bytes).c_str());
  }
  for (const auto& stage : r.stages) {
    std::printf("  %-8s %s\n", stage.name.c_str(), formatMillis(stage.ms).c_str());
  }
  if (r.activated) {
    std::printf("  live     at %s.localhost under cutover serve of %s (was %s)\n", r.site.c_str(),
                data_root.c_str(), r.previous.empty() ? "nothing" : r.previous.c_str());
  } else {
    if (r.locked) {
      std::printf("  locked:  %s (%s); cutover unlock %s\n", r.locked->reason.c_str(),
                  r.locked->by.c_str(), r.site.c_str());
    }
    std::printf("  not live: cutover activate %s %s\n", r.site.c_str(), r.version.c_str());
  }
  if (r.preview_until != 0) {
    std::printf("  preview  at %s--%s.localhost until %s\n", r.version.c_str(), r.site.c_str(),
                rfc3339(r.preview_until).c_str());
  }
  std::printf("  deploy   %s\n", r.deploy_id.c_str());
  for (const auto& warning : r.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
}

std::string reportJson(const DeployReport& r) {
  nlohmann::json stages = nlohmann::json::object();
  for (const auto& s : r.stages) stages[s.name + "_ms"] = s.ms;
  nlohmann::json j{
      {"deploy", r.deploy_id}, {"site", r.site},           {"version", r.version},
      {"source", r.source},    {"activated", r.activated}, {"previous", r.previous},
      {"files", r.files},      {"new_files", r.new_files}, {"reused_files", r.reused_files},
      {"bytes", r.bytes},      {"new_bytes", r.new_bytes}, {"stages", stages},
      {"warnings", r.warnings}};
  j["preview_until"] = r.preview_until != 0 ? rfc3339(r.preview_until) : "";
  j["locked"] = r.locked ? r.locked->describe() : "";
  const auto& c = r.precompressed;
  j["precompressed"] = {{"files", c.files},           {"bytes", c.bytes},
                        {"br_files", c.br_files},     {"br_bytes", c.br_bytes},
                        {"gzip_files", c.gzip_files}, {"gzip_bytes", c.gzip_bytes},
                        {"compressed", c.compressed}, {"cached", c.cached}};
  return j.dump();
}

int runDeploy(const GlobalOptions& global, const DeployArgs& args) {
  if (!args.remote.empty()) {
    std::string token = args.token;
    if (const char* env = std::getenv("CUTOVER_TOKEN"); token.empty() && env != nullptr)
      token = env;
    return runRemoteDeploy({args.source, args.site, args.remote, token, args.no_activate, args.json,
                            args.threads, previewSeconds(args)});
  }
  auto data = DataDir::open(global);
  ProgressBar bar;
  DeployOptions options;
  options.limits = deployLimits(data.config, args);
  options.site = args.site;
  options.source = args.source;
  options.activate = !args.no_activate;
  options.threads = args.threads;
  options.precompress = !args.no_precompress;
  options.preview_seconds = previewSeconds(args);
  if (!args.json) {
    options.progress = [&bar](std::string_view stage, std::uint64_t done, std::uint64_t total,
                              std::uint64_t files_done, std::uint64_t files_total) {
      bar.update(stage, done, total, files_done, files_total);
    };
  }
  auto report = deploy(data.context(), options);
  bar.finish();
  if (!report) {
    if (args.json) {
      nlohmann::json j{{"site", args.site},
                       {"error", report.error().message},
                       {"code", std::string(errcName(report.error().code))}};
      std::printf("%s\n", j.dump().c_str());
    }
    return reportError(report.error());
  }
  if (args.json) {
    std::printf("%s\n", reportJson(*report).c_str());
  } else {
    printReport(*report, data.root);
  }
  return kExitOk;
}

}  // namespace

void addDeployCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<DeployArgs>();
  auto* cmd = app.add_subcommand(
      "deploy", "Store a folder or archive as a new version of a site and make it live");
  cmd->add_option("source", args->source, "A folder, or a .zip, .tar, .tar.gz or .tgz archive")
      ->required();
  cmd->add_option("--site,-s", args->site, "The site's name (a DNS label: a-z, 0-9, '-')")
      ->required();
  cmd->add_flag("--no-activate", args->no_activate,
                "Store the version but leave the live one as is");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->add_flag("--no-precompress", args->no_precompress,
                "Store no brotli or gzip forms: the server then sends every file as it is");
  cmd->add_option(
      "--threads", args->threads,
      "Files stored in parallel (default 8 into a folder, the S3 store's parallel=, 32, into S3; "
      "4 uploads with --remote)");
  cmd->add_option("--max-file-size", args->max_file_size,
                  "Refuse the deploy if a file is larger (e.g. 2GiB; default: the config's "
                  "[limits] max_file_size, else 512MiB)");
  cmd->add_option("--max-total-size", args->max_total_size,
                  "Refuse the deploy if its files add up to more (default 10GiB)");
  cmd->add_option("--max-files", args->max_files,
                  "Refuse the deploy if it has more files (default 100000)");
  cmd->add_option("--preview-expires", args->preview_expires,
                  "How long the version answers at its preview host V--SITE.<preview domain> "
                  "(default 7d; 0: no preview link); `cutover versions preview` changes it later");
  cmd->add_option("--remote", args->remote,
                  "Deploy to the admin API at this URL (e.g. https://host:8081) instead of the "
                  "data folder: only files the server lacks are uploaded");
  cmd->add_option("--token", args->token,
                  "The API token for --remote; better kept out of the command line in "
                  "$CUTOVER_TOKEN");
  cmd->footer(
      "Only files the store lacks are written; the rest are reused by content hash.\n"
      "The pointer flips with compare-and-set: if another deploy made the site live meanwhile,\n"
      "this one fails with a conflict (exit 3) and its version stays stored.\n"
      "Text files (HTML, CSS, JavaScript, JSON, SVG, ...) over 1 KB also get brotli and gzip "
      "forms,\n"
      "kept where smaller; the server picks one by Accept-Encoding. Content compressed by an\n"
      "earlier deploy is not compressed again.\n\n"
      "Examples:\n"
      "  cutover deploy ./public --site docs\n"
      "  cutover deploy site.zip --site docs --no-activate\n"
      "  cutover deploy build.tar.gz --site docs --json\n"
      "  CUTOVER_TOKEN=cut_... cutover deploy ./public --site docs --remote https://host:8081\n");
  cmd->callback(
      [&global, &run, args] { run = [&global, args] { return runDeploy(global, *args); }; });
}

}  // namespace cutover::cli
