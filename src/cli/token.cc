#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "api/tokens.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/common/config_error.h"

namespace cutover::cli {
namespace {

struct TokenArgs {
  std::string site;
  std::string scope = "deploy";
  std::string name;
  std::string id;
  bool json = false;
};

std::unique_ptr<TokenStore> openTokens(const GlobalOptions& global) {
  auto data = DataDir::open(global, DataDir::stores);
  auto tokens = TokenStore::open(data.root / "tokens.sqlite");
  if (!tokens) throw ConfigError("tokens: " + tokens.error().message);
  return std::move(*tokens);
}

int runCreate(const GlobalOptions& global, const TokenArgs& args) {
  auto scope = parseScope(args.scope);
  if (!scope) return reportError(scope.error());
  auto created = openTokens(global)->create(*scope, args.site, args.name);
  if (!created) return reportError(created.error());
  const auto& info = created->info;
  if (args.json) {
    nlohmann::json j{{"id", info.id},
                     {"token", created->secret},
                     {"site", info.site},
                     {"scope", scopeName(info.scope)},
                     {"name", info.name}};
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  std::printf("%s\n", created->secret.c_str());
  std::fprintf(stderr,
               "token %s (%s, %s): shown once, kept only as a hash; send it as "
               "Authorization: Bearer <token>, or give it to cutover deploy --remote in "
               "$CUTOVER_TOKEN\n",
               info.id.c_str(), std::string(scopeName(info.scope)).c_str(),
               info.site.empty() ? "every site" : ("site " + info.site).c_str());
  return kExitOk;
}

int runList(const GlobalOptions& global, bool json) {
  auto tokens = openTokens(global)->list();
  if (!tokens) return reportError(tokens.error());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : *tokens) {
      out.push_back(toJson(t));
    }
    std::printf("%s\n", out.dump().c_str());
    return kExitOk;
  }
  if (tokens->empty()) std::printf("no tokens yet: cutover token create --site SITE\n");
  for (const auto& t : *tokens) {
    std::printf("%-18s %-7s %-12s %s%s%s\n", t.id.c_str(), std::string(scopeName(t.scope)).c_str(),
                t.site.empty() ? "*" : t.site.c_str(), t.created.c_str(),
                t.revoked ? "  revoked" : "", t.name.empty() ? "" : ("  " + t.name).c_str());
  }
  return kExitOk;
}

int runRevoke(const GlobalOptions& global, const std::string& id) {
  if (auto revoked = openTokens(global)->revoke(id); !revoked) return reportError(revoked.error());
  std::printf("token %s is revoked\n", id.c_str());
  return kExitOk;
}

}  // namespace

void addTokenCommands(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<TokenArgs>();
  auto* token = app.add_subcommand("token", "Create, list and revoke the admin API's tokens");
  token->require_subcommand(1);

  auto* create = token->add_subcommand("create", "Create a token and print it (once)");
  create->add_option("--site,-s", args->site,
                     "The site it is for (required for scopes deploy and release)");
  create
      ->add_option("--scope", args->scope,
                   "deploy (one site: upload, deploy, build previews, lock; the default), "
                   "release (one site: also activate, roll back, promote, schedule, unlock, "
                   "retire previews) or admin (everything, every site)")
      ->check(CLI::IsMember({"deploy", "release", "admin"}));
  create->add_option("--name", args->name, "A note saying who or what uses it");
  create->add_flag("--json", args->json, "Print one JSON object instead of the bare token");
  create->footer(
      "The token is printed once and stored only as its SHA-256 hash.\n\n"
      "Examples:\n"
      "  cutover token create --site docs --name ci\n"
      "  cutover token create --site docs --scope release --name release-manager\n"
      "  CUTOVER_TOKEN=$(cutover token create --site docs) cutover deploy ./public --site docs "
      "--remote http://host:8081\n"
      "  cutover token create --scope admin\n");
  create->callback(
      [&global, &run, args] { run = [&global, args] { return runCreate(global, *args); }; });

  auto* list = token->add_subcommand("list", "List tokens (never their secrets)");
  list->add_flag("--json", args->json, "Print a JSON array");
  list->footer("Example:\n  cutover token list\n");
  list->callback(
      [&global, &run, args] { run = [&global, args] { return runList(global, args->json); }; });

  auto* revoke = token->add_subcommand("revoke", "Revoke a token: it stops working at once");
  revoke->add_option("id", args->id, "The token's id (see 'cutover token list')")->required();
  revoke->footer("Example:\n  cutover token revoke tok-3f9a1c2b4d5e\n");
  revoke->callback(
      [&global, &run, args] { run = [&global, args] { return runRevoke(global, args->id); }; });
}

}  // namespace cutover::cli
