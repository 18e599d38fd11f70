// The API's routes that change what is stored or live: activate, rollback, archive upload, and
// the remote deploy protocol (file list → missing blobs → finalize).
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <string_view>
#include <vector>

#include "api/reply.h"
#include "api/routes.h"
#include "common/log.h"
#include "cutover/common/fd.h"
#include "cutover/common/names.h"
#include "cutover/common/utf8.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/schedule.h"
#include "cutover/pointer/aliases.h"
#include "cutover/pointer/records.h"
#include "pipeline/store_lock.h"

namespace cutover::api {
namespace {

// The boolean `name` of a JSON body, `fallback` when absent; invalid_argument if not a boolean.
Result<bool> flagField(const nlohmann::json& body, const char* name, bool fallback) {
  auto it = body.find(name);
  if (it == body.end()) return fallback;
  if (!it->is_boolean()) {
    return fail(Errc::invalid_argument, fmt::format("\"{}\" must be true or false", name));
  }
  return it->get<bool>();
}

nlohmann::json flipJson(const std::string& site, const Flip& flip) {
  return {{"site", site},
          {"version", flip.pointer.version},
          {"previous", flip.pointer.previous},
          {"since", flip.pointer.since},
          {"by", flip.pointer.deploy},
          {"locked", flip.pointer.lock ? flip.pointer.lock->reason : ""},
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
          {"preview_until", r.preview_until != 0 ? rfc3339(r.preview_until) : ""},
          {"locked", r.locked ? r.locked->describe() : ""},
          {"files", r.files},
          {"new_files", r.new_files},
          {"reused_files", r.reused_files},
          {"bytes", r.bytes},
          {"new_bytes", r.new_bytes},
          {"warnings", r.warnings}};
}

}  // namespace

namespace {

// The history's audit trail of a flip made through the API, naming the token that made it. The
// flip is live either way: a history that cannot record it is logged, not answered as a failure.
std::string actorOf(const Call& call) { return call.token ? "token " + call.token->id : "api"; }

void recordFlip(ApiState& state, const Call& call, const std::string& site, std::string_view how,
                const LivePointer& pointer) {
  if (state.context.history == nullptr) return;
  auto recorded = state.context.history->recordFlip(site, how, pointer.previous, pointer.version,
                                                    actorOf(call));
  if (!recorded) {
    log::error("cutover api: recording the {} of {}: {}", how, site, recorded.error().message);
  }
}

}  // namespace

void postActivate(ApiState& state, Call& call) {
  auto body = readJsonObject(call.request, call.body, state.options.max_json_bytes);
  if (!body) return sendError(call.out, body.error());
  auto version = body->find("version");
  if (version == body->end() || !version->is_string()) {
    return sendError(call.out, Errc::invalid_argument,
                     "the body needs \"version\": the id of a stored version");
  }
  auto lock_deploys = flagField(*body, "lock", true);
  if (!lock_deploys) return sendError(call.out, lock_deploys.error());
  const std::string& site = call.param("site");
  // Held while flipping, so gc cannot remove the version between the check and the flip.
  auto lock = StoreLock::acquire(state.lockFile(), StoreLock::Mode::shared,
                                 FleetRequest{state.context.pointers.get(), "activate " + site,
                                              site, version->get<std::string>()});
  if (!lock) return sendError(call.out, lock.error());
  std::optional<DeployLock> deploy_lock;
  if (*lock_deploys) {
    deploy_lock = lockForFlip("activation of " + version->get<std::string>(), actorOf(call));
  }
  auto flip = activateVersion(*state.context.objects, *state.context.pointers, site,
                              version->get<std::string>(), std::move(deploy_lock));
  if (!flip) return sendError(call.out, flip.error());
  recordFlip(state, call, site, "activate", flip->pointer);
  sendJson(call.out, 200, flipJson(site, *flip));
}

void postRollback(ApiState& state, Call& call) {
  const std::string& site = call.param("site");
  auto lock =
      StoreLock::acquire(state.lockFile(), StoreLock::Mode::shared,
                         FleetRequest{state.context.pointers.get(), "rollback " + site, site});
  if (!lock) return sendError(call.out, lock.error());
  std::optional<DeployLock> deploy_lock;
  if (flagParam(call.request, "lock", true)) deploy_lock = lockForFlip("rollback", actorOf(call));
  auto flip =
      rollback(*state.context.objects, *state.context.pointers, site, std::move(deploy_lock));
  if (!flip) return sendError(call.out, flip.error());
  recordFlip(state, call, site, "rollback", flip->pointer);
  sendJson(call.out, 200, flipJson(site, *flip));
}

// POST /api/sites/{site}/lock {"reason": "..."} and POST /api/sites/{site}/unlock.
void postLock(ApiState& state, Call& call) {
  auto body = readJsonObject(call.request, call.body, state.options.max_json_bytes);
  if (!body) return sendError(call.out, body.error());
  std::string reason = "locked through the API";
  if (auto r = body->find("reason"); r != body->end()) {
    if (!r->is_string()) {
      return sendError(call.out, Errc::invalid_argument, "\"reason\" must be a string");
    }
    reason = std::string(clipUtf8(r->get<std::string>(), 200));
  }
  const std::string& site = call.param("site");
  auto set =
      setDeployLock(*state.context.pointers, site, DeployLock{reason, actorOf(call), nowRfc3339()});
  if (!set) return sendError(call.out, set.error());
  recordFlip(state, call, site, "lock", *set);
  sendJson(call.out, 200, {{"site", site}, {"version", set->version}, {"locked", reason}});
}

void postUnlock(ApiState& state, Call& call) {
  const std::string& site = call.param("site");
  auto set = setDeployLock(*state.context.pointers, site, std::nullopt);
  if (!set) return sendError(call.out, set.error());
  recordFlip(state, call, site, "unlock", *set);
  sendJson(call.out, 200, {{"site", site}, {"version", set->version}, {"locked", ""}});
}

// POST /api/sites/{site}/promote {"preview": "ALIAS or VERSION", "lock": false}: the version the
// alias names now goes live as it is (see `cutover promote`).
void postPromote(ApiState& state, Call& call) {
  auto body = readJsonObject(call.request, call.body, state.options.max_json_bytes);
  if (!body) return sendError(call.out, body.error());
  auto preview = body->find("preview");
  if (preview == body->end() || !preview->is_string() ||
      !validateVersionId(preview->get<std::string>())) {
    return sendError(call.out, Errc::invalid_argument,
                     "the body needs \"preview\": a preview alias (feature-login, pr-12) or a "
                     "version id");
  }
  auto lock_deploys = flagField(*body, "lock", false);
  if (!lock_deploys) return sendError(call.out, lock_deploys.error());
  const std::string& site = call.param("site");
  auto resolved = previewVersion(*state.context.pointers, site, preview->get<std::string>());
  if (!resolved) return sendError(call.out, resolved.error());
  const std::string& version = *resolved;
  auto lock = StoreLock::acquire(
      state.lockFile(), StoreLock::Mode::shared,
      FleetRequest{state.context.pointers.get(), "promote " + site, site, version});
  if (!lock) return sendError(call.out, lock.error());
  std::optional<DeployLock> deploy_lock;
  if (*lock_deploys) deploy_lock = lockForFlip("promotion of " + version, actorOf(call));
  auto flip = activateVersion(*state.context.objects, *state.context.pointers, site, version,
                              std::move(deploy_lock));
  if (!flip) return sendError(call.out, flip.error());
  recordFlip(state, call, site, "promote", flip->pointer);
  auto answer = flipJson(site, *flip);
  answer["preview"] = preview->get<std::string>();
  sendJson(call.out, 200, answer);
}

// POST /api/sites/{site}/schedule {"version": V, "at": "2026-12-24T09:00:00Z" or Unix seconds,
// "lock": false}: V goes live then (see `cutover schedule`). DELETE cancels it.
void postSchedule(ApiState& state, Call& call) {
  auto body = readJsonObject(call.request, call.body, state.options.max_json_bytes);
  if (!body) return sendError(call.out, body.error());
  auto version = body->find("version");
  auto at = body->find("at");
  std::optional<std::int64_t> when;
  if (at != body->end() && at->is_number_integer()) when = at->get<std::int64_t>();
  if (at != body->end() && at->is_string()) {
    if (auto ms = rfc3339Ms(at->get<std::string>())) when = *ms / 1000;
  }
  if (version == body->end() || !version->is_string() || !when) {
    return sendError(call.out, Errc::invalid_argument,
                     "the body needs \"version\" and \"at\": a UTC time like "
                     "2026-12-24T09:00:00Z, or Unix seconds");
  }
  std::int64_t now = std::time(nullptr);
  if (*when < now - 60) {
    return sendError(call.out, Errc::invalid_argument, "\"at\" is in the past");
  }
  auto lock_deploys = flagField(*body, "lock", false);
  if (!lock_deploys) return sendError(call.out, lock_deploys.error());
  const std::string& site = call.param("site");
  ScheduledFlip flip{version->get<std::string>(), *when, actorOf(call), *lock_deploys};
  auto before = scheduleFlip(*state.context.objects, *state.context.pointers, site, flip);
  if (!before) return sendError(call.out, before.error());
  nlohmann::json answer{{"site", site},
                        {"version", flip.version},
                        {"at", rfc3339(flip.at)},
                        {"lock", flip.lock},
                        {"replaced", *before ? (*before)->version : ""}};
  sendJson(call.out, 200, answer);
}

void deleteSchedule(ApiState& state, Call& call) {
  const std::string& site = call.param("site");
  auto cancelled = cancelSchedule(*state.context.pointers, site);
  if (!cancelled) return sendError(call.out, cancelled.error());
  if (!*cancelled) {
    return sendError(call.out, Errc::not_found, "site " + site + " has no scheduled activation");
  }
  sendJson(call.out, 200,
           {{"site", site}, {"version", (*cancelled)->version}, {"at", rfc3339((*cancelled)->at)}});
}

// DELETE /api/sites/{site}/previews/{alias}: retires a preview (see `cutover previews remove`).
void deletePreview(ApiState& state, Call& call) {
  const std::string& site = call.param("site");
  auto removed = removeAlias(*state.context.pointers, site, call.param("alias"));
  if (!removed) return sendError(call.out, removed.error());
  sendJson(call.out, 200, previewJson(site, call.param("alias"), *removed, std::time(nullptr)));
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
  if (*received == 0) return sendError(call.out, Errc::invalid_argument, "the archive is empty");

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
    return sendError(call.out, Errc::invalid_argument,
                     "the body needs \"files\": {\"path\": {\"hash\": \"...\", \"size\": N}, ...}");
  }
  const std::string& site = call.param("site");
  auto list =
      RemoteFileList::expect(files->size(), state.limitsFor(site), state.options.max_upload_bytes);
  if (!list) return sendError(call.out, list.error());
  for (const auto& [raw_path, info] : files->items()) {
    auto hash = info.is_object() ? info.find("hash") : info.end();
    auto size = info.is_object() ? info.find("size") : info.end();
    bool has_hash = hash != info.end() && hash->is_string();
    bool has_size = size != info.end() && size->is_number_unsigned();
    auto added = list->add(raw_path, has_hash ? hash->get_ref<const std::string&>() : "",
                           has_size ? std::optional(size->get<std::uint64_t>()) : std::nullopt);
    if (!added) return sendError(call.out, added.error());
  }
  if (auto ok = list->complete(); !ok) return sendError(call.out, ok.error());
  std::string source = "remote";
  if (auto s = body->find("source");
      s != body->end() && s->is_string() && !s->get<std::string>().empty()) {
    // Parsed JSON strings are valid UTF-8; the clip keeps them so.
    source = std::string(clipUtf8(s->get<std::string>(), 200));
  }
  auto activate = flagField(*body, "activate", true);
  if (!activate) return sendError(call.out, activate.error());
  std::int64_t preview_seconds = kDefaultPreviewSeconds;
  if (auto p = body->find("preview_seconds"); p != body->end()) {
    if (!p->is_number_unsigned() || p->get<std::uint64_t>() > kMaxPreviewSeconds) {
      return sendError(call.out, Errc::invalid_argument,
                       "\"preview_seconds\" must be a whole number of seconds from 0 (no preview "
                       "link) to " +
                           std::to_string(kMaxPreviewSeconds));
    }
    preview_seconds = p->get<std::int64_t>();
  }

  auto pending_limits = state.pendingLimits();
  auto refuseCrowded = [&](const Crowded& full) {
    sendError(call.out, full.status, full.code, full.message, nlohmann::json::object(),
              {{"Retry-After", "60"}});
  };
  if (auto full = state.pending.crowded(site, pending_limits)) return refuseCrowded(*full);
  auto upload = RemoteUpload::begin(state.pipeline(), site, source, *activate, preview_seconds,
                                    std::move(*list));
  if (!upload) return sendError(call.out, upload.error());
  auto pending = std::make_shared<PendingDeploy>(std::move(*upload));
  std::string id = pending->record().id;
  if (auto full = state.pending.tryAdd(pending, pending_limits)) {
    // Another start took the last place since the check above.
    state.abandon(*pending, "refused: " + full->message);
    return refuseCrowded(*full);
  }
  sendJson(call.out, 201,
           {{"deploy", id},
            {"missing", pending->upload->missing()},
            {"files", pending->upload->files()},
            {"blobs", pending->upload->blobs()}});
}

void putBlob(ApiState& state, Call& call) {
  const std::string& id = call.param("deploy");
  const std::string& hash = call.param("hash");
  auto pending = state.pending.find(id);
  if (!pending) {
    return sendError(call.out, Errc::conflict,
                     "deploy " + id +
                         " is not waiting for blobs (it was finalized, failed or "
                         "abandoned); start a new one");
  }
  auto accepted =
      pending->upload->accept(*state.context.objects, hash, call.request.content_length,
                              [&](std::span<std::byte> buffer) { return call.body.read(buffer); });
  if (!accepted) return sendError(call.out, accepted.error());
  sendJson(call.out, 201,
           {{"hash", hash}, {"size", accepted->size}, {"stored", accepted->created}});
}

void postFinalize(ApiState& state, Call& call) {
  const std::string& id = call.param("deploy");
  auto pending = state.pending.take(id);
  if (!pending) {
    return sendError(call.out, Errc::conflict,
                     "deploy " + id +
                         " is not waiting to be finalized (it was finalized, failed "
                         "or abandoned)");
  }
  std::vector<std::string> missing;
  if (auto ready = pending->upload->ready(*state.context.objects, missing); !ready) {
    // Not fatal: the client may still upload them and finalize again.
    state.pending.add(pending);
    return sendError(
        call.out, ready.error(),
        missing.empty() ? nlohmann::json::object() : nlohmann::json{{"missing", missing}});
  }
  auto report = pending->upload->finish(state.pipeline());
  if (!report) {
    const DeployRecord& record = pending->record();
    if (record.is(DeployStatus::succeeded)) return sendError(call.out, report.error());
    return sendError(call.out, report.error(), {{"deploy", id}, {"version", record.version}});
  }
  auto answer = deployAnswer(state, id, *report);
  answer["uploaded"] = pending->upload->uploaded();
  answer["blobs"] = pending->upload->blobs();
  sendJson(call.out, 200, answer);
}

}  // namespace cutover::api
