#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cutover/common/result.h"

namespace cutover {

// What a token may do, least first.
//   deploy   one site: read it, upload and deploy (a deploy goes live unless the site is
//            locked), build previews, lock it
//   release  one site: all of deploy, and choose what is live: activate, roll back, promote,
//            schedule, unlock, retire previews
//   admin    everything, on every site (and the token list)
enum class TokenScope { deploy, release, admin };

[[nodiscard]] std::string_view scopeName(TokenScope scope);
[[nodiscard]] Result<TokenScope> parseScope(std::string_view text);

// A token as stored: never the token itself, only its SHA-256.
struct TokenInfo {
  std::string id;    // "tok-<12 hex>", for listing and revoking
  std::string name;  // free text given at creation
  std::string site;  // the one site a token is for; empty for an admin token of every site
  TokenScope scope = TokenScope::deploy;
  std::string created;  // RFC 3339
  bool revoked = false;
};

// {"id", "name", "site", "scope", "created", "revoked"}: how the API and `token list --json`
// show a token.
[[nodiscard]] nlohmann::json toJson(const TokenInfo& token);

// A token just created: the secret is shown to its owner once and kept nowhere.
struct NewToken {
  TokenInfo info;
  std::string secret;  // "cut_" + 64 hex characters (32 random bytes)
};

// The API's bearer tokens, kept hashed (SHA-256) in a SQLite file of the data folder. Verifying
// compares hashes in constant time. Several processes may use the file at once (a running API
// sees a token created or revoked by `cutover token` at its next request). Thread-safe.
class TokenStore {
 public:
  [[nodiscard]] static Result<std::unique_ptr<TokenStore>> open(const std::filesystem::path& file);
  ~TokenStore();
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  // Creates a token from 32 bytes of the OpenSSL CSPRNG. A deploy or release token needs a
  // valid `site`;
  // an admin token may have one (then it is still allowed everywhere) or not. invalid_argument
  // for a bad site name.
  [[nodiscard]] Result<NewToken> create(TokenScope scope, const std::string& site,
                                        const std::string& name);

  // The live (unrevoked) token whose secret is `secret`, or nullopt for any other text.
  [[nodiscard]] Result<std::optional<TokenInfo>> verify(std::string_view secret);

  // Every token, revoked ones included, oldest first.
  [[nodiscard]] Result<std::vector<TokenInfo>> list();

  // Revokes a token by id; not_found if there is no such token. Revoking twice succeeds.
  [[nodiscard]] Result<void> revoke(const std::string& id);

 private:
  struct Db;
  explicit TokenStore(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

}  // namespace cutover
