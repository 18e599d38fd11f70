// s3:// URIs: what they configure, the URLs they address, and the errors for bad ones.
#include "store/s3/s3_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include "cutover/common/config_error.h"
#include "cutover/store/object_store.h"
#include "store/s3/s3_object_store.h"

namespace cutover {
namespace {

// Sets an environment variable for one test and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class S3ConfigTest : public ::testing::Test {
 protected:
  ScopedEnv key_{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"};
  ScopedEnv secret_{"AWS_SECRET_ACCESS_KEY", "secret/with+odd=chars"};
  ScopedEnv token_{"AWS_SESSION_TOKEN", nullptr};
  ScopedEnv region_{"AWS_REGION", nullptr};
  ScopedEnv default_region_{"AWS_DEFAULT_REGION", nullptr};
};

TEST_F(S3ConfigTest, PathStyleAddressesEndpointThenBucketThenKey) {
  auto c = parseS3Uri("s3://my-bucket/sites/prod/?endpoint=http://127.0.0.1:7480&region=eu-1");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->bucket, "my-bucket");
  EXPECT_EQ(c->prefix, "sites/prod/");
  EXPECT_EQ(c->region, "eu-1");
  EXPECT_FALSE(c->virtual_hosted);  // an endpoint means path style unless told otherwise
  EXPECT_EQ(c->url("sites/prod/blobs/ab"), "http://127.0.0.1:7480/my-bucket/sites/prod/blobs/ab");
  EXPECT_EQ(c->url("", "list-type=2&prefix=x"),
            "http://127.0.0.1:7480/my-bucket/?list-type=2&prefix=x");
  EXPECT_EQ(c->endpoint(), "http://127.0.0.1:7480");
  EXPECT_EQ(c->access_key, "AKIDEXAMPLE");
  EXPECT_EQ(c->secret_key, "secret/with+odd=chars");
}

TEST_F(S3ConfigTest, VirtualHostPutsTheBucketInTheHostName) {
  auto c = parseS3Uri("s3://site-data?endpoint=http://localhost:7480&addressing=virtual");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_TRUE(c->virtual_hosted);
  EXPECT_EQ(c->prefix, "");
  EXPECT_EQ(c->url("blobs/ab"), "http://site-data.localhost:7480/blobs/ab");
  EXPECT_EQ(c->url(""), "http://site-data.localhost:7480/");
  EXPECT_EQ(c->endpoint(), "http://site-data.localhost:7480");
}

TEST_F(S3ConfigTest, WithoutAnEndpointItIsAwsVirtualHostInTheRegion) {
  ScopedEnv region("AWS_DEFAULT_REGION", "eu-central-1");
  auto c = parseS3Uri("s3://my-bucket");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->region, "eu-central-1");
  EXPECT_EQ(c->url("k"), "https://my-bucket.s3.eu-central-1.amazonaws.com/k");
  auto path = parseS3Uri("s3://my-bucket?addressing=path");
  ASSERT_TRUE(path);
  EXPECT_EQ(path->url("k"), "https://s3.eu-central-1.amazonaws.com/my-bucket/k");
}

TEST_F(S3ConfigTest, KeysAreEncodedOnceKeepingSlashes) {
  auto c = parseS3Uri("s3://b-1/a%20b?endpoint=http://h:1");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->prefix, "a b/");
  EXPECT_EQ(c->url("a b/x+y~z.json"), "http://h:1/b-1/a%20b/x%2By~z.json");
  EXPECT_EQ(uriEncode("a/b=c", false), "a%2Fb%3Dc");
}

TEST_F(S3ConfigTest, OptionsAreParsedWithSizes) {
  auto c = parseS3Uri(
      "s3://bucket?endpoint=https://"
      "s3.example.com&part_size=6MiB&multipart_above=100MiB&page_size=7"
      "&parallel=3&retries=0&timeout_ms=1500&conditional_put=no");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(c->scheme, "https");
  EXPECT_EQ(c->part_size, 6ULL << 20);
  EXPECT_EQ(c->multipart_above, 100ULL << 20);
  EXPECT_EQ(c->page_size, 7U);
  EXPECT_EQ(c->parallel, 3U);
  EXPECT_EQ(c->retries, 0U);
  EXPECT_EQ(c->timeout.count(), 1500);
  EXPECT_FALSE(c->conditional_put);
}

TEST_F(S3ConfigTest, BadUrisAreRefusedNamingTheProblem) {
  struct Case {
    const char* uri;
    const char* says;
  };
  for (const Case& bad : {
           Case{"s3://", "bucket name"},
           Case{"s3://UPPER", "bucket name"},
           Case{"s3://bucket?endpoint=ftp://x", "http"},
           Case{"s3://bucket?endpoint=http://h/path", "without a path"},
           Case{"s3://bucket?addressing=sideways", "path or virtual"},
           Case{"s3://bucket?part_size=1MiB", "5MiB"},
           Case{"s3://bucket?page_size=5000", "page_size"},
           Case{"s3://bucket?retries=lots", "retries"},
           Case{"s3://bucket?secret=x", "unknown option 'secret'"},
           Case{"s3://bucket?region", "no value"},
           Case{"s3://my_bucket?addressing=virtual&endpoint=http://h", "use addressing=path"},
       }) {
    auto c = parseS3Uri(bad.uri);
    ASSERT_FALSE(c) << bad.uri;
    EXPECT_EQ(c.error().code, Errc::invalid_argument);
    EXPECT_NE(c.error().message.find(bad.says), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find(bad.uri), std::string::npos) << c.error().message;
  }
}

TEST_F(S3ConfigTest, CredentialsComeOnlyFromTheEnvironment) {
  ScopedEnv no_key("AWS_ACCESS_KEY_ID", nullptr);
  auto c = parseS3Uri("s3://bucket?endpoint=http://h:1");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << c.error().message;
  // The factory turns it into a configuration error.
  EXPECT_THROW(makeObjectStore("s3://bucket?endpoint=http://h:1"), ConfigError);
}

TEST_F(S3ConfigTest, TheFactoryBuildsAnS3StoreWithoutContactingTheService) {
  ScopedEnv token("AWS_SESSION_TOKEN", "session");
  auto store = makeObjectStore("s3://bucket/p?endpoint=http://127.0.0.1:1");
  auto* s3 = dynamic_cast<S3ObjectStore*>(store.get());
  ASSERT_NE(s3, nullptr);
  EXPECT_EQ(s3->config().prefix, "p/");
  EXPECT_EQ(s3->config().session_token, "session");
}

}  // namespace
}  // namespace cutover
