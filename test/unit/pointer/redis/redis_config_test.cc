// parseRedisUri: what each part of a redis:// URI sets, where the password comes from, and what
// a wrong URI says.
#include "pointer/redis/redis_config.h"

#include <gtest/gtest.h>

namespace cutover {
namespace {

RedisConfig parse(std::string_view uri, const char* env_password = nullptr) {
  auto config = parseRedisUri(uri, env_password);
  EXPECT_TRUE(config) << uri << ": " << config.error().describe();
  return config ? *config : RedisConfig{};
}

std::string errorOf(std::string_view uri) {
  auto config = parseRedisUri(uri, nullptr);
  if (config) return "no error";
  EXPECT_EQ(config.error().code, Errc::invalid_argument);
  return config.error().message;
}

TEST(ParseRedisUri, HostAloneTakesTheDefaults) {
  auto config = parse("redis://cache.internal");
  EXPECT_EQ(config.host, "cache.internal");
  EXPECT_EQ(config.port, 6379);
  EXPECT_EQ(config.db, 0);
  EXPECT_EQ(config.prefix, "cutover:");
  EXPECT_EQ(config.password, std::nullopt);
  EXPECT_EQ(config.address(), "redis://cache.internal:6379/0");
  EXPECT_EQ(config.channel(), "cutover:changes@0");
}

TEST(ParseRedisUri, PortDatabaseAndPrefix) {
  auto config = parse("redis://10.0.0.5:6380/3?prefix=team%2Fa:");
  EXPECT_EQ(config.host, "10.0.0.5");
  EXPECT_EQ(config.port, 6380);
  EXPECT_EQ(config.db, 3);
  EXPECT_EQ(config.prefix, "team/a:");
  EXPECT_EQ(config.channel(), "team/a:changes@3");
  EXPECT_EQ(parse("redis://[::1]:7000/").host, "::1");
  EXPECT_EQ(parse("redis://[::1]:7000").address(), "redis://[::1]:7000/0");
}

TEST(ParseRedisUri, PasswordFromTheUriElseFromTheEnvironment) {
  auto fromUri = parse("redis://:s%40cret@cache:6379", "from-env");
  EXPECT_EQ(fromUri.password, "s@cret");
  EXPECT_EQ(fromUri.user, "");
  auto withUser = parse("redis://deploy:p@ss@cache");
  EXPECT_EQ(withUser.user, "deploy");
  EXPECT_EQ(withUser.password, "p@ss");
  EXPECT_EQ(withUser.host, "cache");
  EXPECT_EQ(parse("redis://cache", "from-env").password, "from-env");
  EXPECT_EQ(parse("redis://cache", "").password, std::nullopt);
  // The address used in messages never carries the password.
  EXPECT_EQ(fromUri.address().find("cret"), std::string::npos);
}

TEST(ParseRedisUri, RedactHidesOnlyThePassword) {
  EXPECT_EQ(redactRedisUri("redis://:secret@cache:6379/1?prefix=a:"),
            "redis://:***@cache:6379/1?prefix=a:");
  EXPECT_EQ(redactRedisUri("redis://user:secret@cache"), "redis://user:***@cache");
  EXPECT_EQ(redactRedisUri("redis://cache:6379"), "redis://cache:6379");
}

TEST(ParseRedisUri, WrongUrisSayWhichPartIsWrong) {
  EXPECT_NE(errorOf("redis://").find("no host"), std::string::npos);
  EXPECT_NE(errorOf("redis://cache:http").find("port"), std::string::npos);
  EXPECT_NE(errorOf("redis://cache:70000").find("port"), std::string::npos);
  EXPECT_NE(errorOf("redis://cache:0").find("port"), std::string::npos);
  EXPECT_NE(errorOf("redis://cache/two").find("database"), std::string::npos);
  EXPECT_NE(errorOf("redis://cache?prefx=a").find("unknown option \"prefx\""), std::string::npos);
  EXPECT_NE(errorOf("redis://cache?prefix=").find("prefix is empty"), std::string::npos);
  EXPECT_NE(errorOf("redis://cache?prefix=a%20b").find("printable"), std::string::npos);
  EXPECT_NE(errorOf("redis://cache?prefix=%zz").find("hex"), std::string::npos);
  EXPECT_NE(errorOf("redis://[::1").find("]"), std::string::npos);
  EXPECT_NE(errorOf("http://cache").find("redis://"), std::string::npos);
}

}  // namespace
}  // namespace cutover
