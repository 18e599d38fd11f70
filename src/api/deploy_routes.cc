// The API's routes that change what is stored or live: activate, rollback, archive upload, and
// the remote deploy protocol (file list → missing blobs → finalize).
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string_view>
#include <set>
#include <vector>

#include "api/reply.h"
#include "api/routes.h"
#include "cutover/common/fd.h"
#include "cutover/common/hash.h"
#include "cutover/common/media_type.h"
#include "cutover/common/names.h"
#include "cutover/common/site_path.h"
#include "cutover/common/utf8.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pointer/records.h"

namespace cutover::api {
namespace {

nlohmann::json flipJson(const std::string& site, const Flip& flip) {
  return {{"site", site},
          {"version", flip.pointer.version},
          {"previous", flip.pointer.previous},
          {"since", flip.pointer.since},
          {"by", flip.pointer.deploy},
          {"flip_ms", flip.flip_ms}};
}

// A suffix openSource() does not need (it reads the content) but that makes the stored source
// name say what was uploaded.
std::optional<std::string> archiveSuffix(const HttpRequest& request) {
  auto it = request.headers.find("content-type");
  if (it == request.headers.end()) return std::nullopt;
  std::string type = it->second.substr(0, it->second.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (type == "application/gzip" || type == "application/x-gzip" ||
      type == "application/x-compressed-tar") {
    return ".tar.gz";
  }
  if (type == "application/zip" || type == "application/x-zip-compressed") return ".zip";
  if (type == "application/x-tar") return ".tar";
  return std::nullopt;
}

bool flagParam(const HttpRequest& request, std::string_view name, bool fallback) {
  auto value = queryParam(request.query, name);
  if (!value) return fallback;
  return *value != "0" && *value != "false" && *value != "no";
}

// A temp file under uploads/ that is removed when it goes out of scope.
class TempUpload {
 public:
  static Result<TempUpload> create(const std::filesystem::path& dir, const std::string& suffix) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail(Errc::io, "cannot create " + dir.string() + ": " + ec.message());
    std::string name = (dir / ("upload-XXXXXX" + suffix)).string();
    int fd = ::mkostemps(name.data(), static_cast<int>(suffix.size()), O_CLOEXEC);
    if (fd < 0) return failErrno("create a temp file in " + dir.string(), errno);
    return TempUpload(UniqueFd(fd), name);
  }
  TempUpload(TempUpload&& other) noexcept
      : fd_(std::move(other.fd_)), path_(std::exchange(other.path_, {})) {}
  TempUpload& operator=(TempUpload&&) = delete;
  TempUpload(const TempUpload&) = delete;
  ~TempUpload() { remove(); }
  void remove() {
    if (!path_.empty()) ::unlink(std::exchange(path_, {}).c_str());
  }
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  TempUpload(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

Error tooLarge(std::uint64_t limit) {
  return Error{Errc::too_large,
               "the upload is over the limit of " + std::to_string(limit) + " bytes"};
}

// Streams the body into `file`, at most `limit` bytes.
Result<std::uint64_t> receiveInto(const HttpRequest& request, BodyReader& body, int fd,
                                  std::uint64_t limit) {
  if (request.content_length && *request.content_length > limit)
    return tl::unexpected(tooLarge(limit));
  std::vector<std::byte> buffer(256 * 1024);
  std::uint64_t total = 0;
  while (true) {
    auto n = body.read(buffer);
    if (!n) return tl::unexpected(n.error());
    if (*n == 0) return total;
    total += *n;
    if (total > limit) return tl::unexpected(tooLarge(limit));
    if (auto w = writeAll(fd, buffer.data(), *n, "write the upload"); !w) {
      return tl::unexpected(w.error());
    }
  }
}

nlohmann::json deployAnswer(ApiState& state, const std::string& deploy_id, const DeployReport& r) {
  nlohmann::json record = nlohmann::json::object();
  if (auto found = state.context.history->find(deploy_id); found && *found) {
    record = (*found)->toJson();
  }
  return {{"deploy", record},
          {"site", r.site},
          {"version", r.version},
          {"activated", r.activated},
          {"previous", r.previous},
          {"live_url", r.activated ? state.siteUrl(r.site) : ""},
          {"files", r.files},
          {"new_files", r.new_files},
          {"reused_files", r.reused_files},
          {"bytes", r.bytes},
          {"new_bytes", r.new_bytes},
          {"warnings", r.warnings}};
}

// How many of a site's versions (newest first) a remote deploy looks through for the blobs it
// names. Sites keep about ten; a blob only an older version holds is simply uploaded again.
constexpr std::size_t kVersionsScanned = 32;

// The blobs among `wanted` that the site's own versions name, with the sizes their manifests
// give. Another site's blobs are not looked at: whether they are stored is not this site's to
// learn.
Result<std::map<std::string, std::uint64_t>> blobsOfSite(
    ObjectStore& objects, const std::string& site,
    const std::map<std::string, std::uint64_t>& wanted) {
  std::map<std::string, std::uint64_t> found;
  auto versions = objects.listVersions(site);
  if (!versions) return tl::unexpected(versions.error());
  std::size_t scanned = 0;
  for (const auto& version : *versions) {
    if (found.size() == wanted.size() || scanned++ == kVersionsScanned) break;
    auto manifest = objects.readManifest(site, version.version);
    if (!manifest) {
      if (manifest.error().code == Errc::not_found) continue;  // collected meanwhile
      return tl::unexpected(manifest.error());
    }
    for (const auto& [path, entry] : manifest->files) {
      for (const auto* blob : {&entry.hash, &entry.br.hash, &entry.gzip.hash}) {
        if (!blob->empty() && wanted.contains(*blob)) {
          std::uint64_t size = blob == &entry.hash   ? entry.size
                               : blob == &entry.br.hash ? entry.br.size
                                                        : entry.gzip.size;
          found.emplace(*blob, size);
        }
      }
    }
  }
  return found;
}

}  // namespace

namespace {

// The history's audit trail of a flip made through the API, naming the token that made it. The
// flip is live either way: a history that cannot record it is logged, not answered as a failure.
void recordFlip(ApiState& state, const Call& call, const std::string& site,
                std::string_view how, const Flip& flip) {
  if (state.context.history == nullptr) return;
  std::string actor = call.token ? "token " + call.token->id : "api";
  auto recorded = state.context.history->recordFlip(site, how, flip.pointer.previous,
                                                    flip.pointer.version, actor);
  if (!recorded) {
    std::fprintf(stderr, "cutover api: recording the %.*s of %s: %s\n",
                 static_cast<int>(how.size()), how.data(), site.c_str(),
                 recorded.error().message.c_str());
  }
}

}  // namespace

void postActivate(ApiState& state, Call& call) {
  auto body = readJsonObject(call.request, call.body, state.options.max_json_bytes);
  if (!body) return sendError(call.out, body.error());
  auto version = body->find("version");
  if (version == body->end() || !version->is_string()) {
    return sendError(call.out, 400, "invalid_argument",
                     "the body needs \"version\": the id of a stored version");
  }
  const std::string& site = call.param("site");
  // Held while flipping, so gc cannot remove the version between the check and the flip.
  auto lock = StoreLock::acquire(state.lockFile(), StoreLock::Mode::shared,
                                 FleetRequest{state.context.pointers.get(), "activate " + site,
                                              site, version->get<std::string>()});
  if (!lock) return sendError(call.out, lock.error());
  auto flip = activateVersion(*state.context.objects, *state.context.pointers, site,
                              version->get<std::string>());
  if (!flip) return sendError(call.out, flip.error());
  recordFlip(state, call, site, "activate", *flip);
  sendJson(call.out, 200, flipJson(site, *flip));
}

void postRollback(ApiState& state, Call& call) {
  const std::string& site = call.param("site");
  auto lock = StoreLock::acquire(state.lockFile(), StoreLock::Mode::shared,
                                 FleetRequest{state.context.pointers.get(), "rollback " + site,
                                              site});
  if (!lock) return sendError(call.out, lock.error());
  auto flip = rollback(*state.context.objects, *state.context.pointers, site);
  if (!flip) return sendError(call.out, flip.error());
  recordFlip(state, call, site, "rollback", *flip);
  sendJson(call.out, 200, flipJson(site, *flip));
}

void postArchive(ApiState& state, Call& call) {
  auto suffix = archiveSuffix(call.request);
  if (!suffix) {
    return sendError(call.out, 415, "invalid_argument",
                     "the archive's Content-Type must be application/gzip (.tar.gz), "
                     "application/zip or application/x-tar");
  }
  auto temp = TempUpload::create(state.context.data_dir / "uploads", *suffix);
  if (!temp) return sendError(call.out, temp.error());
  // The whole body arrives before anything is deployed: an upload that breaks off leaves a temp
  // file (removed here) and nothing else, not even a history record.
  auto received = receiveInto(call.request, call.body, temp->fd(), state.options.max_upload_bytes);
  if (!received) return sendError(call.out, received.error());
  if (*received == 0) return sendError(call.out, 400, "invalid_argument", "the archive is empty");

  DeployOptions options;
  options.site = call.param("site");
  options.source = temp->path();
  options.activate = flagParam(call.request, "activate", true);
  options.trigger = "api";
  options.limits = state.limitsFor(options.site);
  auto report = deploy(state.pipeline(), options);
  // Gone before the answer: a client that sees it finds nothing of its upload left behind.
  temp->remove();
  if (!report) {
    auto recent = state.context.history->list(options.site, 1);
    nlohmann::json extra = nlohmann::json::object();
    if (recent && !recent->empty() && recent->front().trigger == "api") {
      extra["deploy"] = recent->front().id;
    }
    return sendError(call.out, report.error(), extra);
  }
  sendJson(call.out, 201, deployAnswer(state, report->deploy_id, *report));
}

void postRemoteDeploy(ApiState& state, Call& call) {
  auto body = readJsonObject(call.request, call.body, state.options.max_json_bytes);
  if (!body) return sendError(call.out, body.error());
  auto files = body->find("files");
  if (files == body->end() || !files->is_object()) {
    return sendError(call.out, 400, "invalid_argument",
                     "the body needs \"files\": {\"path\": {\"hash\": \"...\", \"size\": N}, ...}");
  }
  if (files->empty())
    return sendError(call.out, 400, "invalid_argument", "the deploy has no files");
  const std::string& site = call.param("site");
  SourceLimits limits = state.limitsFor(site);
  if (files->size() > limits.max_files) {
    return sendError(call.out, 413, "too_large",
                     fmt::format("the deploy has {} files, over the limit of {} (max_files)", files->size(),
                                 limits.max_files));
  }
  std::map<std::string, FileEntry> entries;
  std::map<std::string, std::uint64_t> blobs;
  std::uint64_t total = 0;
  for (const auto& [raw_path, info] : files->items()) {
    auto path = normalizeSitePath(raw_path);
    if (!path) return sendError(call.out, path.error());
    auto hash = info.is_object() ? info.find("hash") : info.end();
    auto size = info.is_object() ? info.find("size") : info.end();
    if (hash == info.end() || !hash->is_string() || !isBlobHash(hash->get<std::string>()) ||
        size == info.end() || !size->is_number_unsigned()) {
      return sendError(call.out, 400, "invalid_argument",
                       raw_path + ": needs \"hash\" (64 lowercase hex) and \"size\" (bytes)");
    }
    auto bytes = size->get<std::uint64_t>();
    if (bytes > std::min(limits.max_file_bytes, state.options.max_upload_bytes)) {
      return sendError(call.out, 413, "too_large",
                       fmt::format("{}: {} bytes is over the limit for one file", raw_path, bytes));
    }
    total += bytes;
    std::string hex = hash->get<std::string>();
    auto [known, fresh] = blobs.emplace(hex, bytes);
    if (!fresh && known->second != bytes) {
      return sendError(call.out, 400, "invalid_argument",
                       raw_path + ": the same hash was given with two different sizes");
    }
    if (!entries.emplace(*path, FileEntry{hex, bytes, std::string(mediaTypeFor(*path)), {}, {}})
             .second) {
      return sendError(call.out, 400, "invalid_argument",
                       raw_path + ": names the same file as another path (" + *path + ")");
    }
  }
  if (total > limits.max_total_bytes) {
    return sendError(call.out, 413, "too_large",
                     fmt::format("the deploy holds {} bytes, over the limit of {}", total,
                                 limits.max_total_bytes));
  }
  std::string source = "remote";
  if (auto s = body->find("source");
      s != body->end() && s->is_string() && !s->get<std::string>().empty()) {
    // Parsed JSON strings are valid UTF-8; the clip keeps them so.
    source = std::string(clipUtf8(s->get<std::string>(), 200));
  }
  bool activate = true;
  if (auto a = body->find("activate"); a != body->end()) {
    if (!a->is_boolean())
      return sendError(call.out, 400, "invalid_argument", "\"activate\" must be true or false");
    activate = a->get<bool>();
  }

  auto pending_limits = state.pendingLimits();
  auto refuseCrowded = [&](const Crowded& full) {
    sendError(call.out, full.status, full.code, full.message, nlohmann::json::object(),
              {{"Retry-After", "60"}});
  };
  if (auto full = state.pending.crowded(site, pending_limits)) return refuseCrowded(*full);

  // From here on gc waits: the blobs reported present stay present until the deploy ends.
  auto lock = StoreLock::acquire(state.lockFile(), StoreLock::Mode::shared,
                                 FleetRequest{state.context.pointers.get(),
                                              "remote deploy " + site, site});
  if (!lock) return sendError(call.out, lock.error());
  auto before = state.context.pointers->get(liveKey(site));
  if (!before) return sendError(call.out, before.error());
  // Present means held by this site's versions (and still stored), with the size given;
  // everything else is missing, whoever else stores it.
  auto held = blobsOfSite(*state.context.objects, site, blobs);
  if (!held) return sendError(call.out, held.error());
  for (const auto& [held_hash, size] : *held) {
    const std::string& hash = held_hash;  // a lambda cannot capture a structured binding (C++20)
    if (blobs.at(hash) == size) continue;
    auto named = std::find_if(entries.begin(), entries.end(),
                              [&](const auto& e) { return e.second.hash == hash; });
    return sendError(call.out, 400, "invalid_argument",
                     fmt::format("{}: blob {} is {} bytes, not {}", named->first, hash, size,
                                 blobs.at(hash)));
  }
  std::vector<std::string> held_hashes;
  for (const auto& [hash, size] : *held) held_hashes.push_back(hash);
  auto gone = state.context.objects->missing(held_hashes);
  if (!gone) return sendError(call.out, gone.error());
  std::set<std::string> present(held_hashes.begin(), held_hashes.end());
  for (const auto& hash : *gone) present.erase(hash);
  std::vector<std::string> missing;
  for (const auto& [hash, size] : blobs) {
    if (!present.contains(hash)) missing.push_back(hash);
  }

  DeployRecord record;
  record.site = site;
  record.source = source;
  record.trigger = "remote";
  record.files = entries.size();
  record.bytes = total;
  if (auto begun = state.context.history->begin(record); !begun) {
    return sendError(call.out, begun.error());
  }
  auto pending = std::make_shared<PendingDeploy>(record, std::move(*lock));
  pending->activate = activate;
  pending->expected_pointer = *before;
  pending->files = std::move(entries);
  pending->blobs = std::move(blobs);
  pending->held = std::move(present);
  pending->missing_at_start = missing.size();
  std::string id = record.id;
  if (auto full = state.pending.tryAdd(pending, pending_limits)) {
    // Another start took the last place since the check above.
    state.abandon(*pending, "refused: " + full->message);
    return refuseCrowded(*full);
  }
  sendJson(call.out, 201,
           {{"deploy", id},
            {"missing", missing},
            {"files", pending->files.size()},
            {"blobs", pending->blobs.size()}});
}

void putBlob(ApiState& state, Call& call) {
  const std::string& id = call.param("deploy");
  const std::string& hash = call.param("hash");
  auto pending = state.pending.find(id);
  if (!pending) {
    return sendError(call.out, 409, "conflict",
                     "deploy " + id +
                         " is not waiting for blobs (it was finalized, failed or "
                         "abandoned); start a new one");
  }
  auto blob = pending->blobs.find(hash);
  if (blob == pending->blobs.end()) {
    return sendError(call.out, 400, "invalid_argument",
                     "blob " + hash + " is not a file of deploy " + id);
  }
  std::uint64_t size = blob->second;
  if (call.request.content_length && *call.request.content_length != size) {
    return sendError(call.out, 400, "invalid_argument",
                     fmt::format("blob {} is {} bytes, but {} were sent", hash, size,
                                 *call.request.content_length));
  }
  auto writer = state.context.objects->newBlob();
  if (!writer) return sendError(call.out, writer.error());
  std::vector<std::byte> buffer(256 * 1024);
  std::uint64_t received = 0;
  while (true) {
    auto n = call.body.read(buffer);
    // Dropping the writer unfinished discards what it holds: nothing is stored.
    if (!n) return sendError(call.out, n.error());
    if (*n == 0) break;
    received += *n;
    if (received > size) {
      return sendError(call.out, 400, "invalid_argument",
                       fmt::format("blob {} is {} bytes, but more were sent", hash, size));
    }
    if (auto w = (*writer)->write(std::span(buffer.data(), *n)); !w) {
      return sendError(call.out, w.error());
    }
  }
  if (received != size) {
    return sendError(call.out, 400, "invalid_argument",
                     fmt::format("blob {} is {} bytes, but {} were sent", hash, size, received));
  }
  auto stored = (*writer)->finish(hash);
  if (!stored) {
    if (stored.error().code == Errc::invalid_argument) {
      return sendError(call.out, 400, "invalid_argument",
                       "the bytes sent do not match blob " + hash + "; nothing was stored");
    }
    return sendError(call.out, stored.error());
  }
  pending->received(hash);
  if (stored->created) {
    pending->uploaded += 1;
    pending->uploaded_bytes += size;
  }
  sendJson(call.out, 201, {{"hash", hash}, {"size", size}, {"stored", stored->created}});
}

void postFinalize(ApiState& state, Call& call) {
  const std::string& id = call.param("deploy");
  auto pending = state.pending.take(id);
  if (!pending) {
    return sendError(call.out, 409, "conflict",
                     "deploy " + id +
                         " is not waiting to be finalized (it was finalized, failed "
                         "or abandoned)");
  }
  // Every blob must be one the site holds (its size checked at the start) or one this deploy
  // sent (its size and hash checked on upload): a hash that is merely stored, by another site,
  // gives nothing away and cannot be used with a false size.
  std::vector<std::string> hashes;
  for (const auto& [hash, size] : pending->blobs) hashes.push_back(hash);
  auto stored = state.context.objects->missing(hashes);
  if (!stored) {
    state.pending.add(pending);
    return sendError(call.out, stored.error());
  }
  std::set<std::string> absent(stored->begin(), stored->end());
  std::vector<std::string> missing;
  for (const auto& hash : hashes) {
    if (absent.contains(hash) || !pending->provided(hash)) missing.push_back(hash);
  }
  if (!missing.empty()) {
    // Not fatal: the client may still upload them and finalize again.
    state.pending.add(pending);
    return sendError(call.out, 400, "invalid_argument",
                     fmt::format("{} of the deploy's {} blobs were never uploaded (first: {})",
                                 missing.size(), hashes.size(), missing.front()),
                     {{"missing", missing}});
  }

  auto& record = pending->record;
  DeployReport report;
  report.deploy_id = id;
  report.site = record.site;
  report.source = record.source;
  report.files = pending->files.size();
  for (const auto& [path, entry] : pending->files) report.bytes += entry.size;
  report.new_files = std::min<std::uint64_t>(pending->uploaded, report.files);
  report.reused_files = report.files - report.new_files;
  report.new_bytes = pending->uploaded_bytes;
  report.stages.push_back({"upload", std::chrono::duration<double, std::milli>(
                                         std::chrono::steady_clock::now() - pending->started)
                                         .count()});
  Result<void> done = state.context.objects->flush();
  if (done) {
    FinalizeInput input{record.site,       record.source,
                        pending->files,    pending->expected_pointer,
                        pending->activate, ""};
    done = finalizeVersion(state.pipeline(), std::move(input), report);
  }
  record.version = report.version;
  record.activated = report.activated;
  record.files = report.files;
  record.new_files = report.new_files;
  record.reused_files = report.reused_files;
  record.bytes = report.bytes;
  record.new_bytes = report.new_bytes;
  record.stages = report.stages;
  record.finished = nowRfc3339();
  record.status = done ? "succeeded" : "failed";
  if (!done) record.error = done.error().message;
  auto saved = state.context.history->update(record);
  if (!done)
    return sendError(call.out, done.error(), {{"deploy", id}, {"version", report.version}});
  if (!saved) return sendError(call.out, saved.error());
  auto answer = deployAnswer(state, id, report);
  answer["uploaded"] = pending->uploaded.load();
  answer["blobs"] = pending->blobs.size();
  sendJson(call.out, 200, answer);
}

}  // namespace cutover::api
