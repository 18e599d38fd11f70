// `cutover deploy --remote`: the client side of the API's incremental deploy protocol.
#include "cli/remote_deploy.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/output.h"
#include "common/curl.h"
#include "common/work_pool.h"
#include "cutover/common/fd.h"
#include "cutover/common/hash.h"
#include "cutover/common/utf8.h"

namespace cutover::cli {
namespace {

struct Response {
  long status = 0;
  std::string body;
};

// Where an upload's bytes come from: a file on disk, or bytes already read from an archive.
struct Payload {
  int fd = -1;
  std::string_view bytes;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::function<void(std::uint64_t)> sent;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::size_t onRead(char* out, std::size_t size, std::size_t count, void* user) {
  auto* p = static_cast<Payload*>(user);
  std::size_t want = std::min<std::uint64_t>(size * count, p->size - p->offset);
  if (want == 0) return 0;
  std::size_t n = 0;
  if (p->fd >= 0) {
    ssize_t r;
    do {
      r = ::pread(p->fd, out, want, static_cast<off_t>(p->offset));
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return CURL_READFUNC_ABORT;  // the file shrank or failed: the server gets less
    n = static_cast<std::size_t>(r);
  } else {
    std::memcpy(out, p->bytes.data() + p->offset, want);
    n = want;
  }
  p->offset += n;
  if (p->sent) p->sent(n);
  return n;
}

Errc errcFromCode(std::string_view code) {
  if (code == "conflict" || code == "already_exists") return Errc::conflict;
  if (code == "not_found") return Errc::not_found;
  if (code == "too_large") return Errc::too_large;
  if (code == "bad_archive") return Errc::bad_archive;
  if (code == "unavailable") return Errc::unavailable;
  if (code == "io") return Errc::io;
  return Errc::invalid_argument;  // unauthorized, forbidden, invalid_argument, ...
}

// One connection to the API (curl keeps it alive between requests). Not thread-safe: each
// upload thread has its own.
class ApiClient {
 public:
  ApiClient(std::string base, const std::string& token) : base_(std::move(base)) {
    curlGlobalInit();
    curl_ = curl_easy_init();
    headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + token).c_str());
    headers_ = curl_slist_append(headers_, "Expect:");  // the server answers refusals anyway
  }
  ~ApiClient() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  Result<nlohmann::json> postJson(const std::string& path, const nlohmann::json& body) {
    std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    Payload payload{-1, text, 0, text.size(), {}};
    return call("POST", path, &payload, "application/json");
  }

  Result<nlohmann::json> put(const std::string& path, Payload& payload) {
    return call("PUT", path, &payload, "application/octet-stream");
  }

 private:
  Result<nlohmann::json> call(const char* method, const std::string& path, Payload* payload,
                              const char* content_type) {
    std::string url = base_ + path;
    Response response;
    curl_easy_reset(curl_);
    curl_slist* headers = nullptr;
    for (auto* h = headers_; h != nullptr; h = h->next)
      headers = curl_slist_append(headers, h->data);
    headers = curl_slist_append(headers, (std::string("Content-Type: ") + content_type).c_str());
    // A stalled transfer (no byte for 60 s) fails instead of hanging; a slow one goes on.
    char error[CURL_ERROR_SIZE] = "";
    setUpEasy(curl_, {.url = url.c_str(), .stall = std::chrono::seconds(60), .error = error});
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl_, CURLOPT_READFUNCTION, onRead);
    curl_easy_setopt(curl_, CURLOPT_READDATA, payload);
    curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(payload->size));
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response.body);
    CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      return fail(Errc::unavailable, fmt::format("{} {}: {}", method, url, curlProblem(rc, error)));
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &response.status);
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (response.status >= 400) {
      if (json.is_object() && json.contains("error") && json["error"].is_object()) {
        const auto& e = json["error"];
        auto message = e.value("message", nlohmann::json()).is_string()
                           ? e["message"].get<std::string>()
                           : std::string();
        auto code = e.value("code", nlohmann::json()).is_string() ? e["code"].get<std::string>()
                                                                  : std::string();
        return fail(errcFromCode(code),
                    fmt::format("the server refused ({}): {}", response.status, message));
      }
      return notTheApi(method, path, fmt::format("it answered {}", response.status));
    }
    if (!json.is_object()) {
      return notTheApi(
          method, path,
          fmt::format("it answered {} with something that is not JSON", response.status));
    }
    return json;
  }

  // What reached the URL is something else (the edge, a proxy's page): say where the API is.
  tl::unexpected<Error> notTheApi(const char* method, const std::string& path,
                                  const std::string& what) const {
    return fail(Errc::invalid_argument,
                fmt::format("{} is not a cutover admin API ({} to {} {}); the admin API listens on "
                            "127.0.0.1:8081 by default, or on the config's [api] listen (see "
                            "cutover serve --help)",
                            base_, what, method, path));
  }

  std::string base_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
};

struct LocalFile {
  std::string path;
  std::uint64_t size = 0;
  std::string hash;
  std::filesystem::path disk_path;  // folders only
};

// Reads an entry to its end, hashing it (and keeping the bytes when `keep` is given).
Result<std::string> hashEntry(EntryReader& reader, std::string* keep) {
  Sha256 hasher;
  std::vector<std::byte> buffer(256 * 1024);
  while (true) {
    auto n = reader.read(buffer);
    if (!n) return tl::unexpected(n.error());
    if (*n == 0) return hasher.finishHex();
    hasher.update(std::span(buffer.data(), *n));
    if (keep != nullptr) keep->append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
}

// Uploads blobs on a few threads (a WorkPool, one API connection per thread), bounding the
// bytes held in memory by queued archive entries.
class UploadQueue {
 public:
  struct Job {
    std::string hash;
    std::uint64_t size = 0;
    std::filesystem::path disk_path;  // or:
    std::string bytes;
  };

  UploadQueue(const RemoteDeployOptions& options, const std::string& base,
              std::uint64_t total_bytes, std::uint64_t total_blobs)
      : options_(options),
        total_bytes_(total_bytes),
        total_blobs_(total_blobs),
        clients_(makeClients(options, base)),
        pool_(static_cast<unsigned>(clients_.size()), kMaxQueuedBytes) {}

  // False once an upload failed (the job is dropped).
  bool submit(Job job, const std::string& deploy_id) {
    std::uint64_t held = job.bytes.size();
    return pool_.submit(held, [this, job = std::move(job), deploy_id](unsigned worker) {
      auto done = upload(*clients_[worker], job, deploy_id);
      if (done) ++done_blobs_;
      return done;
    });
  }

  Result<void> finish() { return pool_.finish(); }

  [[nodiscard]] std::uint64_t uploadedBytes() const { return done_bytes_; }

 private:
  static constexpr std::uint64_t kMaxQueuedBytes = 64ULL << 20;

  static std::vector<std::unique_ptr<ApiClient>> makeClients(const RemoteDeployOptions& options,
                                                             const std::string& base) {
    std::vector<std::unique_ptr<ApiClient>> clients;
    for (unsigned i = 0; i < std::max(1U, options.parallel); ++i) {
      clients.push_back(std::make_unique<ApiClient>(base, options.token));
    }
    return clients;
  }

  Result<void> upload(ApiClient& client, const Job& job, const std::string& id) {
    UniqueFd fd;
    Payload payload;
    payload.size = job.size;
    if (!job.disk_path.empty()) {
      fd.reset(::open(job.disk_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return failErrno("open " + job.disk_path.string(), errno);
      payload.fd = fd.get();
    } else {
      payload.bytes = job.bytes;
    }
    payload.sent = [&](std::uint64_t n) { report(n); };
    auto answer = client.put("/api/deploys/" + id + "/blobs/" + job.hash, payload);
    if (!answer) {
      auto error = answer.error();
      if (!job.disk_path.empty()) error.message = job.disk_path.string() + ": " + error.message;
      return tl::unexpected(std::move(error));
    }
    return {};
  }

  void report(std::uint64_t n) {
    auto bytes = done_bytes_.fetch_add(n) + n;
    if (!options_.progress) return;
    std::lock_guard lock(progress_mutex_);
    options_.progress(bytes, total_bytes_, done_blobs_, total_blobs_);
  }

  const RemoteDeployOptions& options_;
  std::uint64_t total_bytes_, total_blobs_;
  std::mutex progress_mutex_;
  std::atomic<std::uint64_t> done_bytes_{0};
  std::atomic<std::uint64_t> done_blobs_{0};
  std::vector<std::unique_ptr<ApiClient>> clients_;
  WorkPool pool_;  // last: its threads stop before the clients and counters they use go
};

}  // namespace

Result<RemoteDeployReport> remoteDeploy(const RemoteDeployOptions& options) {
  std::string base = options.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0) {
    return fail(Errc::invalid_argument,
                "--remote '" + options.url + "' must be an http:// or https:// URL");
  }
  if (options.token.empty()) {
    return fail(Errc::invalid_argument,
                "a remote deploy needs a token: set $CUTOVER_TOKEN (or pass --token); "
                "`cutover token create --site " +
                    options.site + "` on the server makes one");
  }

  // 1. Hash every file.
  auto source = openSource(options.source, options.limits);
  if (!source) return tl::unexpected(source.error());
  bool folder = std::filesystem::is_directory(options.source);
  std::vector<LocalFile> files;
  auto hashed =
      (*source)->forEach([&](const SourceEntry& entry, EntryReader& reader) -> Result<void> {
        auto hash = hashEntry(reader, nullptr);
        if (!hash)
          return tl::unexpected(Error{hash.error().code, entry.path + ": " + hash.error().message});
        files.push_back({entry.path, entry.size, *hash, entry.disk_path});
        return {};
      });
  if (!hashed) return tl::unexpected(hashed.error());
  if (files.empty())
    return fail(Errc::invalid_argument, (*source)->describe() + " contains no files");

  // 2. Send the list; learn what the server lacks.
  nlohmann::json list = nlohmann::json::object();
  std::map<std::string, std::uint64_t> blobs;
  RemoteDeployReport report;
  for (const auto& f : files) {
    list[f.path] = {{"hash", f.hash}, {"size", f.size}};
    blobs.emplace(f.hash, f.size);
    report.bytes += f.size;
  }
  ApiClient api(base, options.token);
  auto started = api.postJson(
      "/api/sites/" + options.site + "/deploys",
      {{"files", list},
       {"source", std::string(clipUtf8(escapeInvalidUtf8((*source)->describe()), 200))},
       {"activate", options.activate},
       {"preview_seconds", options.preview_seconds}});
  if (!started) return tl::unexpected(started.error());
  std::string id = started->value("deploy", "");
  std::map<std::string, std::uint64_t> missing;
  for (const auto& hash : started->value("missing", nlohmann::json::array())) {
    if (hash.is_string() && blobs.contains(hash.get<std::string>())) {
      missing.emplace(hash.get<std::string>(), blobs[hash.get<std::string>()]);
    }
  }
  std::uint64_t missing_bytes = 0;
  for (const auto& [hash, size] : missing) missing_bytes += size;

  // 3. Upload what is missing, each content once.
  {
    UploadQueue queue(options, base, missing_bytes, missing.size());
    auto pending = missing;
    if (folder) {
      for (const auto& f : files) {
        if (pending.erase(f.hash) == 0) continue;
        if (!queue.submit({f.hash, f.size, f.disk_path, {}}, id)) break;
      }
    } else if (!pending.empty()) {
      // An archive is read once more, front to back, keeping only the entries to send.
      auto again = openSource(options.source, options.limits);
      if (!again) return tl::unexpected(again.error());
      auto read =
          (*again)->forEach([&](const SourceEntry& /*entry*/, EntryReader& reader) -> Result<void> {
            std::string bytes;
            auto hash = hashEntry(reader, &bytes);
            if (!hash) return tl::unexpected(hash.error());
            if (pending.erase(*hash) == 0) return {};
            if (!queue.submit({*hash, bytes.size(), {}, std::move(bytes)}, id))
              return queue.finish();
            return {};
          });
      if (!read) return tl::unexpected(read.error());
    }
    if (auto done = queue.finish(); !done) return tl::unexpected(done.error());
    report.uploaded_bytes = queue.uploadedBytes();
  }

  // 4. Commit and flip.
  auto finished = api.postJson("/api/deploys/" + id + "/finalize", nlohmann::json::object());
  if (!finished) return tl::unexpected(finished.error());
  report.deploy_id = id;
  report.site = options.site;
  report.version = finished->value("version", "");
  report.previous = finished->value("previous", "");
  report.live_url = finished->value("live_url", "");
  report.preview_until = finished->value("preview_until", "");
  report.activated = finished->value("activated", false);
  report.locked = finished->value("locked", "");
  report.files = files.size();
  report.blobs = blobs.size();
  report.uploaded = missing.size();
  return report;
}

int runRemoteDeploy(const RemoteDeployArgs& args) {
  RemoteDeployOptions options;
  options.url = args.url;
  options.token = args.token;
  options.site = args.site;
  options.source = args.source;
  options.activate = !args.no_activate;
  options.preview_seconds = args.preview_seconds;
  if (args.threads != 0) options.parallel = args.threads;
  ProgressBar bar;
  if (!args.json) {
    options.progress = [&bar](std::uint64_t done, std::uint64_t total, std::uint64_t blobs_done,
                              std::uint64_t blobs_total) {
      bar.update("upload", done, total, blobs_done, blobs_total);
    };
  }
  auto report = remoteDeploy(options);
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
  const auto& r = *report;
  if (args.json) {
    nlohmann::json j{{"deploy", r.deploy_id},
                     {"site", r.site},
                     {"version", r.version},
                     {"activated", r.activated},
                     {"previous", r.previous},
                     {"live_url", r.live_url},
                     {"preview_until", r.preview_until},
                     {"locked", r.locked},
                     {"files", r.files},
                     {"bytes", r.bytes},
                     {"blobs", r.blobs},
                     {"uploaded", r.uploaded},
                     {"uploaded_bytes", r.uploaded_bytes}};
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  std::printf("%s %s of %s on %s\n", r.activated ? "deployed" : "stored", r.version.c_str(),
              r.site.c_str(), args.url.c_str());
  std::printf("  files    %llu, %s; uploaded %llu of %llu blobs (%s)\n",
              static_cast<unsigned long long>(r.files), formatBytes(r.bytes).c_str(),
              static_cast<unsigned long long>(r.uploaded), static_cast<unsigned long long>(r.blobs),
              formatBytes(r.uploaded_bytes).c_str());
  if (r.activated) {
    std::printf("  live     at %s (was %s)\n", r.live_url.c_str(),
                r.previous.empty() ? "nothing" : r.previous.c_str());
  } else {
    if (!r.locked.empty()) std::printf("  locked:  %s\n", r.locked.c_str());
    std::printf("  not live: POST /api/sites/%s/activate {\"version\": \"%s\"}\n", r.site.c_str(),
                r.version.c_str());
  }
  if (!r.preview_until.empty()) {
    std::printf("  preview  of %s open until %s\n", r.version.c_str(), r.preview_until.c_str());
  }
  std::printf("  deploy   %s\n", r.deploy_id.c_str());
  return kExitOk;
}

}  // namespace cutover::cli
