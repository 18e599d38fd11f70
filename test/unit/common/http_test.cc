// What `cutover serve --listen` and `--api-listen` accept, and the status lines both servers send.
#include "cutover/common/http.h"

#include <gtest/gtest.h>

#include "cutover/common/ascii.h"

namespace cutover {
namespace {

TEST(ParseListenAddress, TakesTheFormsUsersWrite) {
  auto a = parseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(parseListenAddress("[::1]:0")->host, "::1");
  EXPECT_EQ(parseListenAddress("localhost:9")->host, "127.0.0.1");
  EXPECT_EQ(parseListenAddress("*:80")->host, "0.0.0.0");
  EXPECT_EQ(parseListenAddress(":80")->host, "0.0.0.0");
}

TEST(ParseListenAddress, RefusesWhatItCannotBindNamingTheText) {
  for (const char* bad : {"8080", "example.com:80", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:80x", "127.0.0.1:-1", "[::1:80"}) {
    auto a = parseListenAddress(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error().code, Errc::invalid_argument);
    EXPECT_NE(a.error().message.find(bad), std::string::npos) << a.error().message;
  }
}

TEST(ReasonPhrase, NamesEveryStatusTheServersSend) {
  for (int status :
       {200, 202, 206, 301, 304, 308, 400, 401, 403, 404, 405, 409, 413, 416, 431, 500, 503}) {
    EXPECT_NE(reasonPhrase(status), "Unknown") << status;
  }
  EXPECT_EQ(reasonPhrase(416), "Range Not Satisfiable");
  EXPECT_EQ(reasonPhrase(299), "Unknown");
}

TEST(Ascii, ComparesAndTrimsWithoutLocale) {
  EXPECT_TRUE(equalsIgnoreCase("Content-Type", "content-TYPE"));
  EXPECT_FALSE(equalsIgnoreCase("Content-Type", "content-typ"));
  EXPECT_TRUE(startsWithIgnoreCase("Bytes=0-1", "bytes="));
  EXPECT_FALSE(startsWithIgnoreCase("byte", "bytes="));
  EXPECT_EQ(trimBlanks(" \t gzip ;q=1\t "), "gzip ;q=1");
  EXPECT_EQ(trimBlanks(" \t "), "");
}

}  // namespace
}  // namespace cutover
