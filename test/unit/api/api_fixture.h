#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/tokens.h"
#include "cutover/api/api_server.h"
#include "cutover/pipeline/deploy.h"
#include "runs/history.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace cutover {

// A real ApiServer on port 0 over a data folder in a temp dir, with three tokens: a deploy
// token for "docs", one for "other", and an admin token.
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  void TearDown() override {
    if (server_) server_->stop();
  }

  void start(ApiOptions options);
  void restart(ApiOptions options) {
    server_->stop();
    server_.reset();
    start(std::move(options));
  }

  [[nodiscard]] PipelineContext pipeline() const {
    return PipelineContext{objects_.get(), pointers_.get(), history_.get(), nullptr,
                           dir_ / "store.lock"};
  }
  // Deploys a two-file folder locally; returns the version.
  std::string deployLocal(const std::string& tag, bool activate = true);
  // The live version of docs ("" if none).
  std::string live(const std::string& site = "docs");
  std::size_t versionCount(const std::string& site = "docs");
  std::size_t deployCount(const std::string& site = "docs");

  testing::HttpResponse call(const std::string& method, const std::string& target,
                             const std::string& token, const std::string& body = {},
                             std::vector<std::string> headers = {});
  static nlohmann::json json(const testing::HttpResponse& r) {
    return nlohmann::json::parse(r.body, nullptr, false);
  }
  // Sends `head` + `body_part` on a raw connection and closes it: an upload that breaks off.
  void sendAndHangUp(const std::string& head, const std::string& body_part);

  testing::TempDir dir_;
  ObjectStorePtr objects_;
  PointerStorePtr pointers_;
  std::unique_ptr<History> history_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<ApiServer> server_;
  std::uint16_t port_ = 0;
  std::string docs_token_, other_token_, admin_token_;
  std::string release_token_;  // scope release, site docs
};

}  // namespace cutover
