// The admin API's JSON bodies, handed to the routes that read them, as a client with a deploy
// token for the site may send them: POST /api/sites/S/deploys (a remote deploy's file list) and
// POST /api/sites/S/activate. The routes run on in-memory stores and a real history in a temp
// folder; every answer must be a JSON object and no exception may leave a route.
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>

#include "api/routes.h"
#include "fuzz_support.h"
#include "pointer/memory/memory_pointer_store.h"
#include "runs/history.h"
#include "store/memory/memory_object_store.h"

namespace {

using cutover::fuzz::check;
namespace api = cutover::api;

class StringBody final : public api::BodyReader {
 public:
  explicit StringBody(std::string_view bytes) : rest_(bytes) {}
  cutover::Result<std::size_t> read(std::span<std::byte> buffer) override {
    std::size_t n = std::min(buffer.size(), rest_.size());
    std::memcpy(buffer.data(), rest_.data(), n);
    rest_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view rest_;
};

class Recorder final : public api::ResponseWriter {
 public:
  void send(int code, std::string_view text, std::string_view /*content_type*/,
            const api::ExtraHeaders& /*extra*/) override {
    check(!sent, "a route answers once");
    sent = true;
    status = code;
    body.assign(text);
  }
  bool beginStream(int, std::string_view) override { return false; }
  bool writeChunk(std::string_view) override { return false; }
  void endStream() override {}
  bool stopping() const override { return false; }

  bool sent = false;
  int status = 0;
  std::string body;
};

struct Fixture {
  Fixture() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cutover-api-fuzz-XXXXXX");
    check(::mkdtemp(pattern.data()) != nullptr, "a temp folder can be made");
    dir = pattern;
    auto opened = cutover::History::open(dir / "history.db");
    check(opened.has_value(), "the history opens");
    history = std::move(*opened);
    state.context.objects = std::make_shared<cutover::MemoryObjectStore>();
    state.context.pointers = std::make_shared<cutover::MemoryPointerStore>();
    state.context.history = history.get();
    state.context.data_dir = dir;
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::filesystem::path dir;
  std::unique_ptr<cutover::History> history;
  api::ApiState state;
};

void call(Fixture& f, void (*route)(api::ApiState&, api::Call&), std::string_view body) {
  api::HttpRequest request;
  request.method = "POST";
  request.content_length = body.size();
  request.has_body = true;
  StringBody reader(body);
  Recorder out;
  api::Call c{request, reader, out, std::nullopt, {{"site", "docs"}}};
  route(f.state, c);
  check(out.sent, "a route answers");
  auto answer = nlohmann::json::parse(out.body, nullptr, false);
  check(answer.is_object(), "an answer is a JSON object");
  check(out.status < 500, "a client's body gets no server error");
  // A pending deploy would hold the store lock; let it go as the API's sweep does.
  for (auto& pending : f.state.pending.takeAll()) f.state.abandon(*pending, "fuzz");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  std::string_view body = cutover::fuzz::text(data, size);
  call(f, api::postRemoteDeploy, body);
  call(f, api::postActivate, body);
  return 0;
}
