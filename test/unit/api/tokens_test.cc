#include "api/tokens.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace cutover {
namespace {

TEST(TokenStoreTest, CreatesVerifiesAndRevokesWithoutKeepingTheSecret) {
  testing::TempDir dir;
  auto store = TokenStore::open(dir / "tokens.sqlite");
  ASSERT_TRUE(store) << store.error().message;
  auto token = (*store)->create(TokenScope::deploy, "docs", "ci");
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->secret.rfind("cut_", 0), 0U);
  EXPECT_EQ(token->secret.size(), 4U + 64U);
  EXPECT_NE((*store)->create(TokenScope::deploy, "docs", "")->secret, token->secret);

  auto found = (*store)->verify(token->secret);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->id, token->info.id);
  EXPECT_EQ((*found)->site, "docs");
  EXPECT_EQ((*found)->scope, TokenScope::deploy);
  EXPECT_FALSE(*(*store)->verify(token->secret + "x"));
  EXPECT_FALSE(*(*store)->verify(""));

  // Only the hash is stored: the file (and its write-ahead log) never holds the token text.
  std::string file =
      testing::readFile(dir / "tokens.sqlite") + testing::readFile(dir / "tokens.sqlite-wal");
  EXPECT_EQ(file.find(token->secret), std::string::npos);
  EXPECT_EQ(file.find(token->secret.substr(4)), std::string::npos);

  ASSERT_TRUE((*store)->revoke(token->info.id));
  EXPECT_FALSE(*(*store)->verify(token->secret));
  auto listed = (*store)->list();
  ASSERT_TRUE(listed && listed->size() == 2U);
  EXPECT_EQ(listed->front().id, token->info.id);  // the first created comes first
  EXPECT_TRUE(listed->front().revoked);
  EXPECT_FALSE(listed->back().revoked);
  EXPECT_EQ((*store)->revoke("tok-nothing").error().code, Errc::not_found);
}

// Tokens created within one second (the resolution of `created`) list in the order they were
// made, whatever their random ids.
TEST(TokenStoreTest, ListsTokensInTheOrderTheyWereCreated) {
  testing::TempDir dir;
  auto store = TokenStore::open(dir / "tokens.sqlite");
  ASSERT_TRUE(store);
  std::vector<std::string> created;
  for (int i = 0; i < 20; ++i) {
    auto token = (*store)->create(TokenScope::admin, "", "t" + std::to_string(i));
    ASSERT_TRUE(token) << token.error().message;
    created.push_back(token->info.id);
  }
  auto listed = (*store)->list();
  ASSERT_TRUE(listed);
  std::vector<std::string> ids;
  for (const auto& t : *listed) ids.push_back(t.id);
  EXPECT_EQ(ids, created);
}

TEST(TokenStoreTest, DeployTokensNeedAValidSite) {
  testing::TempDir dir;
  auto store = TokenStore::open(dir / "tokens.sqlite");
  ASSERT_TRUE(store);
  EXPECT_EQ((*store)->create(TokenScope::deploy, "", "").error().code, Errc::invalid_argument);
  EXPECT_EQ((*store)->create(TokenScope::deploy, "Bad_Site", "").error().code,
            Errc::invalid_argument);
  auto admin = (*store)->create(TokenScope::admin, "", "");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->info.site, "");
  EXPECT_EQ(parseScope("root").error().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace cutover
