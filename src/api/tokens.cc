#include "api/tokens.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <mutex>

#include "common/random.h"
#include "common/sqlite.h"
#include "cutover/common/hash.h"
#include "cutover/common/names.h"
#include "cutover/store/manifest.h"

namespace cutover {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  site TEXT NOT NULL DEFAULT '',
  scope TEXT NOT NULL,
  hash TEXT NOT NULL,
  created TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
);
)sql";

constexpr std::string_view kPrefix = "cut_";

TokenInfo readRow(const sqlite::Statement& st) {
  TokenInfo t;
  t.id = st.text(0);
  t.name = st.text(1);
  t.site = st.text(2);
  t.scope = parseScope(st.text(3)).value_or(TokenScope::deploy);  // unknown: the least
  t.created = st.text(4);
  t.revoked = st.integer(5) != 0;
  return t;
}

}  // namespace

std::string_view scopeName(TokenScope scope) {
  switch (scope) {
    case TokenScope::admin:
      return "admin";
    case TokenScope::release:
      return "release";
    case TokenScope::deploy:
      break;
  }
  return "deploy";
}

nlohmann::json toJson(const TokenInfo& token) {
  return {{"id", token.id},           {"name", token.name},
          {"site", token.site},       {"scope", scopeName(token.scope)},
          {"created", token.created}, {"revoked", token.revoked}};
}

Result<TokenScope> parseScope(std::string_view text) {
  if (text == "deploy") return TokenScope::deploy;
  if (text == "release") return TokenScope::release;
  if (text == "admin") return TokenScope::admin;
  return fail(Errc::invalid_argument,
              "scope '" + std::string(text) + "' is not one of: deploy, release, admin");
}

struct TokenStore::Db {
  sqlite::Database db;
  std::mutex mutex;
};

Result<std::unique_ptr<TokenStore>> TokenStore::open(const std::filesystem::path& file) {
  auto db = sqlite::Database::open(file);
  if (!db) return tl::unexpected(db.error());
  if (auto r = db->exec(kSchema); !r) return tl::unexpected(r.error());
  // Db is an aggregate: built with braces, which clang 14 make_unique cannot do.
  return std::unique_ptr<TokenStore>(new TokenStore(std::unique_ptr<Db>(new Db{std::move(*db)})));
}

TokenStore::TokenStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
TokenStore::~TokenStore() = default;

Result<NewToken> TokenStore::create(TokenScope scope, const std::string& site,
                                    const std::string& name) {
  if (scope != TokenScope::admin && site.empty()) {
    return fail(Errc::invalid_argument,
                fmt::format("a {} token is for one site: give --site", scopeName(scope)));
  }
  if (!site.empty()) {
    if (auto ok = validateSiteName(site); !ok) return tl::unexpected(ok.error());
  }
  NewToken out{TokenInfo{"tok-" + randomHex(6), name, site, scope, nowRfc3339(), false},
               std::string(kPrefix) + randomHex(32)};
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "INSERT INTO tokens (id, name, site, scope, hash, created) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  st.bind(1, out.info.id).bind(2, out.info.name).bind(3, out.info.site);
  st.bind(4, scopeName(scope)).bind(5, sha256Hex(out.secret)).bind(6, out.info.created);
  if (auto r = st.run(); !r) return tl::unexpected(r.error());
  return out;
}

Result<std::optional<TokenInfo>> TokenStore::verify(std::string_view secret) {
  std::string presented = sha256Hex(secret);
  std::lock_guard lock(db_->mutex);
  // Every live token is compared, in constant time, so neither the time taken nor an index
  // lookup tells how close a guess came.
  sqlite::Statement st(db_->db.handle(),
                       "SELECT id, name, site, scope, created, revoked, hash FROM tokens "
                       "WHERE revoked = 0");
  std::optional<TokenInfo> found;
  while (true) {
    auto row = st.step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    std::string stored = st.text(6);
    if (stored.size() == presented.size() &&
        CRYPTO_memcmp(stored.data(), presented.data(), stored.size()) == 0) {
      found = readRow(st);
    }
  }
  return found;
}

Result<std::vector<TokenInfo>> TokenStore::list() {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(
      db_->db.handle(),
      "SELECT id, name, site, scope, created, revoked FROM tokens "
      "ORDER BY created, rowid");  // created has whole seconds: insertion breaks ties
  return st.all(readRow);
}

Result<void> TokenStore::revoke(const std::string& id) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement find(db_->db.handle(), "SELECT id FROM tokens WHERE id = ?1");
  find.bind(1, id);
  auto row = find.step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return fail(Errc::not_found, "there is no token " + id + " (see cutover token list)");
  find.reset();
  sqlite::Statement st(db_->db.handle(), "UPDATE tokens SET revoked = 1 WHERE id = ?1");
  st.bind(1, id);
  return st.run();
}

}  // namespace cutover
