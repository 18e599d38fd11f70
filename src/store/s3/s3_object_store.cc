#include "store/s3/s3_object_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "common/random.h"
#include "cutover/common/hash.h"
#include "cutover/common/names.h"
#include "store/s3/s3_xml.h"

namespace cutover {
namespace {

// A writer keeps up to this much in memory before it moves to a temp file.
constexpr std::size_t kMemoryLimit = 4U << 20;
// Up to this size a blob goes up with one conditional PUT without asking first: uploading a
// small blob that is there already costs about what a HEAD does.
constexpr std::uint64_t kHeadFirstAbove = 1U << 20;
// missing() lists the blobs instead of asking about each hash when asked about this many, as
// long as the listing stays under kListKeysPerHash keys per hash (a page of 1,000 keys costs
// about what a few HEADs do; a listing of a huge bucket does not pay).
constexpr std::size_t kListMissingAbove = 200;
constexpr std::size_t kListKeysPerHash = 10;
// Parts of one multipart upload in flight at once.
constexpr unsigned kPartsInFlight = 4;
// S3 allows at most this many parts per upload.
constexpr std::uint64_t kMaxParts = 10000;

Result<UniqueFd> makeTempFile() {
  const char* env = std::getenv("TMPDIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "/tmp";
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.valid()) return fd;
  // No O_TMPFILE on this file system: a named file, unlinked at once.
  std::string path = dir + "/cutover-s3-XXXXXX";
  int raw = ::mkostemp(path.data(), O_CLOEXEC);
  if (raw < 0) return failErrno("create a temp file in " + dir, errno);
  ::unlink(path.c_str());
  return UniqueFd(raw);
}

// SHA-256 of the first `size` bytes of `fd`.
Result<std::string> hashFile(int fd, std::uint64_t size) {
  Sha256 hasher;
  std::vector<char> buffer(1U << 20);
  std::uint64_t at = 0;
  while (at < size) {
    ssize_t n = ::pread(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), size - at),
                        static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failErrno("read downloaded blob", errno);
    if (n == 0) return fail(Errc::io, "downloaded blob is shorter than received");
    hasher.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    at += static_cast<std::uint64_t>(n);
  }
  return hasher.finishHex();
}

// The "created" at the start of a manifest, which Manifest::toJson writes first (keys sorted);
// empty when the head does not start that way.
std::string createdFromHead(std::string_view head) {
  constexpr std::string_view kPrefix = R"({"created":")";
  if (!head.starts_with(kPrefix)) return {};
  head.remove_prefix(kPrefix.size());
  auto end = head.find_first_of("\"\\");
  if (end == std::string_view::npos || head[end] != '"') return {};
  return std::string(head.substr(0, end));
}

std::string listQuery(std::string_view prefix, bool folders, unsigned page_size,
                      std::string_view token) {
  // Names in SigV4's canonical (sorted) order.
  std::string query;
  if (!token.empty()) query += "continuation-token=" + uriEncode(token, false) + "&";
  if (folders) query += "delimiter=%2F&";
  query += fmt::format("list-type=2&max-keys={}&prefix={}", page_size, uriEncode(prefix, false));
  return query;
}

}  // namespace

class S3BlobWriter final : public BlobWriter {
 public:
  explicit S3BlobWriter(S3ObjectStore& store) : store_(store) {}

  Result<void> write(std::span<const std::byte> bytes) override {
    if (done_) return fail(Errc::io, "blob writer used after it finished or failed");
    const char* data = reinterpret_cast<const char*>(bytes.data());
    hasher_.update(bytes);
    size_ += bytes.size();
    if (!file_.valid() && memory_.size() + bytes.size() <= kMemoryLimit) {
      memory_.append(data, bytes.size());
      return {};
    }
    if (!file_.valid()) {
      auto file = makeTempFile();
      if (!file) return failed(file.error());
      file_ = std::move(*file);
      if (auto ok = writeAll(file_.get(), memory_.data(), memory_.size(), "write temp file"); !ok) {
        return failed(ok.error());
      }
      std::string().swap(memory_);
    }
    if (auto ok = writeAll(file_.get(), data, bytes.size(), "write temp file"); !ok)
      return failed(ok.error());
    return {};
  }

  Result<StoredBlob> finish(std::string_view expected_hash) override {
    if (done_) return fail(Errc::io, "blob writer used after it finished or failed");
    done_ = true;
    std::string hash = hasher_.finishHex();
    if (!expected_hash.empty() && expected_hash != hash) {
      return fail(Errc::invalid_argument,
                  fmt::format("content changed while it was stored: expected {}, got {}",
                              expected_hash, hash));
    }
    S3ObjectStore::BlobBody body{file_.valid() ? nullptr : &memory_, file_.get(), size_};
    auto stored = store_.putBlob(hash, body);
    if (!stored) return tl::unexpected(stored.error());
    return StoredBlob{std::move(hash), *stored};
  }

 private:
  tl::unexpected<Error> failed(Error error) {
    done_ = true;
    error.message = "store blob: " + error.message;
    return tl::unexpected(std::move(error));
  }

  S3ObjectStore& store_;
  Sha256 hasher_;
  std::string memory_;
  UniqueFd file_;
  std::uint64_t size_ = 0;
  bool done_ = false;
};

S3ObjectStore::S3ObjectStore(S3Config config) : client_(std::move(config)) {}

S3ObjectStore::~S3ObjectStore() = default;

std::string S3ObjectStore::blobKey(std::string_view hash) const {
  return fmt::format("{}blobs/{}", config().prefix, hash);
}

std::string S3ObjectStore::manifestKey(std::string_view site, std::string_view version) const {
  return fmt::format("{}manifests/{}/{}.json", config().prefix, site, version);
}

Result<std::unique_ptr<BlobWriter>> S3ObjectStore::newBlob() {
  return std::make_unique<S3BlobWriter>(*this);
}

Result<bool> S3ObjectStore::putBlob(const std::string& hash, const BlobBody& body) {
  std::shared_ptr<Upload> mine;
  {
    std::unique_lock lock(uploads_mutex_);
    while (!mine) {
      auto it = uploads_.find(hash);
      if (it == uploads_.end()) {
        mine = std::make_shared<Upload>();
        uploads_.emplace(hash, mine);
        break;
      }
      auto theirs = it->second;
      uploads_changed_.wait(lock, [&] { return theirs->done; });
      if (theirs->stored) return false;
      // That upload failed: this writer tries itself (unless another waiter got there first).
    }
  }
  auto finish = [&](Result<bool> result) {
    {
      std::lock_guard lock(uploads_mutex_);
      mine->done = true;
      mine->stored = result.has_value();
      uploads_.erase(hash);
    }
    uploads_changed_.notify_all();
    return result;
  };

  const S3Config& c = config();
  const std::string key = blobKey(hash);
  const bool multipart = body.size > c.multipart_above;
  bool replace = false;
  if (!c.conditional_put || multipart || body.size > kHeadFirstAbove) {
    S3Request head{.method = "HEAD", .key = key, .what = "check blob " + hash};
    auto r = client_.send(head);
    if (!r) return finish(tl::unexpected(r.error()));
    if (r->ok()) {
      if (r->header("content-length") == std::to_string(body.size)) return finish(false);
      replace = true;  // a blob of the wrong size is damaged: store it again, over it
    } else if (r->status != 404) {
      return finish(tl::unexpected(client_.errorFor(head, *r)));
    }
  }
  if (multipart) return finish(uploadMultipart(hash, body));

  S3Request put{.method = "PUT",
                .key = key,
                .headers = {"Content-Type: application/octet-stream"},
                .payload_sha256 = hash,  // the blob's name is its SHA-256: the service checks it
                .what = "store blob " + hash};
  if (c.conditional_put && !replace) put.headers.emplace_back("If-None-Match: *");
  if (body.memory != nullptr) {
    put.body = *body.memory;
  } else {
    put.body_fd = body.fd;
    put.body_size = body.size;
  }
  auto r = client_.send(put);
  if (!r) return finish(tl::unexpected(r.error()));
  if (r->ok()) return finish(true);
  if (r->status == 412) return finish(false);  // another writer stored the same bytes first
  return finish(tl::unexpected(client_.errorFor(put, *r)));
}

Result<bool> S3ObjectStore::uploadMultipart(const std::string& hash, const BlobBody& body) {
  const std::string key = blobKey(hash);
  S3Request init{.method = "POST",
                 .key = key,
                 .query = "uploads=",
                 .headers = {"Content-Type: application/octet-stream"},
                 .what = "start multipart upload of blob " + hash};
  auto started = client_.send(init);
  if (!started) return tl::unexpected(started.error());
  if (!started->ok()) return tl::unexpected(client_.errorFor(init, *started));
  auto upload_id = s3xml::parseUploadId(started->body);
  if (!upload_id) return tl::unexpected(upload_id.error());
  const std::string id_query = "uploadId=" + uriEncode(*upload_id, false);

  auto abort = [&](Error error) -> Result<bool> {
    // Best effort: what is left is aborted by removeLeftovers() (gc) anyway.
    S3Request del{.method = "DELETE", .key = key, .query = id_query};
    (void)client_.send(del);
    return tl::unexpected(std::move(error));
  };

  std::uint64_t part_size = std::max(config().part_size, (body.size + kMaxParts - 1) / kMaxParts);
  std::uint64_t count = (body.size + part_size - 1) / part_size;
  std::vector<S3Request> parts;
  parts.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t offset = i * part_size;
    std::uint64_t size = std::min(part_size, body.size - offset);
    S3Request part{.method = "PUT",
                   .key = key,
                   .query = fmt::format("partNumber={}&{}", i + 1, id_query),
                   .what = fmt::format("store part {} of {} of blob {}", i + 1, count, hash)};
    if (body.memory != nullptr) {
      part.body = std::string_view(*body.memory).substr(offset, size);
    } else {
      part.body_fd = body.fd;
      part.body_offset = offset;
      part.body_size = size;
    }
    parts.push_back(std::move(part));
  }
  auto results = client_.sendAll(parts, kPartsInFlight);
  std::vector<std::string> etags;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i]) return abort(results[i].error());
    if (!results[i]->ok()) return abort(client_.errorFor(parts[i], *results[i]));
    etags.push_back(results[i]->header("etag"));
  }

  std::string xml = s3xml::completeMultipartBody(etags);
  S3Request complete{.method = "POST",
                     .key = key,
                     .query = id_query,
                     .body = xml,
                     .what = "complete multipart upload of blob " + hash};
  auto done = client_.send(complete);
  if (!done) return abort(done.error());
  // CompleteMultipartUpload can fail after its 200 has been sent: the error is in the body.
  auto error = s3xml::parseError(done->body);
  if (!done->ok() || error) {
    if (error && done->ok()) done->status = 500;
    return abort(client_.errorFor(complete, *done));
  }
  return true;
}

Result<void> S3ObjectStore::flush() {
  // A PUT that returned 200 is durable already.
  return {};
}

Result<std::vector<std::string>> S3ObjectStore::missing(std::span<const std::string> hashes) {
  std::vector<char> absent(hashes.size(), 0);
  std::vector<std::size_t> asked;
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    if (isBlobHash(hashes[i])) {
      asked.push_back(i);
    } else {
      absent[i] = 1;
    }
  }
  auto collect = [&] {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < hashes.size(); ++i) {
      if (absent[i] != 0) out.push_back(hashes[i]);
    }
    return out;
  };

  if (asked.size() >= kListMissingAbove) {
    const std::string prefix = config().prefix + "blobs/";
    auto listing = list(prefix, false, asked.size() * kListKeysPerHash);
    if (!listing) return tl::unexpected(listing.error());
    if (listing->complete) {
      std::unordered_set<std::string_view> present;
      for (const auto& key : listing->keys)
        present.insert(std::string_view(key).substr(prefix.size()));
      for (std::size_t i : asked) absent[i] = present.contains(hashes[i]) ? 0 : 1;
      return collect();
    }
  }

  std::vector<S3Request> heads;
  heads.reserve(asked.size());
  for (std::size_t i : asked) {
    heads.push_back(
        {.method = "HEAD", .key = blobKey(hashes[i]), .what = "check blob " + hashes[i]});
  }
  auto results = client_.sendAll(heads);
  for (std::size_t n = 0; n < asked.size(); ++n) {
    if (!results[n]) return tl::unexpected(results[n].error());
    if (results[n]->status == 404) {
      absent[asked[n]] = 1;
    } else if (!results[n]->ok()) {
      return tl::unexpected(client_.errorFor(heads[n], *results[n]));
    }
  }
  return collect();
}

Result<S3Response> S3ObjectStore::getBlob(const std::string& hash, int fd) {
  if (!isBlobHash(hash)) return fail(Errc::not_found, "'" + hash + "' is not a blob hash");
  S3Request get{
      .method = "GET", .key = blobKey(hash), .response_fd = fd, .what = "read blob " + hash};
  auto r = client_.send(get);
  if (!r) return tl::unexpected(r.error());
  if (r->status == 404) {
    Error error = client_.errorFor(get, *r);
    if (error.code == Errc::not_found) error.message = "blob " + hash + " is not stored";
    return tl::unexpected(std::move(error));
  }
  if (!r->ok()) return tl::unexpected(client_.errorFor(get, *r));
  return r;
}

Result<BlobHandle> S3ObjectStore::openBlob(const std::string& hash) {
  auto file = makeTempFile();
  if (!file) return tl::unexpected(file.error());
  auto r = getBlob(hash, file->get());
  if (!r) return tl::unexpected(r.error());
  // Bytes that do not hash to their name never leave the store.
  auto got = hashFile(file->get(), r->body_size);
  if (!got) return tl::unexpected(got.error());
  if (*got != hash) {
    return fail(Errc::io, fmt::format("blob {} in bucket {} is damaged: its bytes hash to {}", hash,
                                      config().bucket, *got));
  }
  if (::lseek(file->get(), 0, SEEK_SET) != 0) return failErrno("rewind downloaded blob", errno);
  return BlobHandle{std::move(*file), r->body_size};
}

Result<std::string> S3ObjectStore::readBlob(const std::string& hash) {
  auto r = getBlob(hash, -1);
  if (!r) return tl::unexpected(r.error());
  if (sha256Hex(r->body) != hash) {
    return fail(Errc::io, fmt::format("blob {} in bucket {} is damaged: its bytes hash to {}", hash,
                                      config().bucket, sha256Hex(r->body)));
  }
  return std::move(r->body);
}

Result<void> S3ObjectStore::commitManifest(const Manifest& manifest) {
  if (auto ok = validateSiteName(manifest.site); !ok) return ok;
  if (auto ok = validateVersionId(manifest.version); !ok) return ok;
  const std::string json = manifest.toJson();
  const std::string key = manifestKey(manifest.site, manifest.version);
  if (!config().conditional_put) return commitUnconditional(manifest, json, key);

  const std::string label = fmt::format("version {} of site {}", manifest.version, manifest.site);
  S3Request put{.method = "PUT",
                .key = key,
                .headers = {"Content-Type: application/json", "If-None-Match: *"},
                .body = json,
                .payload_sha256 = sha256Hex(json),
                .what = "commit " + label};
  auto r = client_.send(put);
  if (!r) return tl::unexpected(r.error());
  if (r->ok()) return {};
  if (r->status == 412) {
    // After a retry the key may hold this very manifest, from an attempt whose answer was lost.
    if (r->attempts > 1) {
      S3Request get{.method = "GET", .key = key, .what = "read back " + label};
      auto back = client_.send(get);
      if (back && back->ok() && back->body == json) return {};
    }
    return fail(Errc::already_exists, label + " already exists");
  }
  return tl::unexpected(client_.errorFor(put, *r));
}

// For services that ignore `If-None-Match: *` on PUT (conditional_put=no), a manifest is guarded
// by checks around a plain PUT:
//   1. HEAD the key: there already → already_exists, nothing written.
//   2. PUT it with a random token in its metadata (x-amz-meta-cutover-commit).
//   3. HEAD it again: another token → a racing commit of the same version overwrote ours after
//      our PUT and won: already_exists. Our token → committed.
// Commits of one key in this process are serialised, so among threads exactly one wins. Two
// processes racing for one version can still both see their own token if each HEADs back
// before the other's PUT lands; then the later PUT's manifest stays. That needs two deploys
// choosing the same version id, which cutover's ids (time + random) make as good as
// impossible; only services with conditional PUT close the window completely.
Result<void> S3ObjectStore::commitUnconditional(const Manifest& manifest, const std::string& json,
                                                const std::string& key) {
  const std::string label = fmt::format("version {} of site {}", manifest.version, manifest.site);
  {
    std::unique_lock lock(commits_mutex_);
    commits_changed_.wait(lock, [&] { return !commits_.contains(key); });
    commits_.emplace(key, 1);
  }
  struct Release {
    S3ObjectStore& store;
    const std::string& key;
    ~Release() {
      {
        std::lock_guard lock(store.commits_mutex_);
        store.commits_.erase(key);
      }
      store.commits_changed_.notify_all();
    }
  } release{*this, key};

  S3Request head{.method = "HEAD", .key = key, .what = "check " + label};
  auto before = client_.send(head);
  if (!before) return tl::unexpected(before.error());
  if (before->ok()) return fail(Errc::already_exists, label + " already exists");
  if (before->status != 404) return tl::unexpected(client_.errorFor(head, *before));

  const std::string token = randomHex(16);
  S3Request put{
      .method = "PUT",
      .key = key,
      .headers = {"Content-Type: application/json", "x-amz-meta-cutover-commit: " + token},
      .body = json,
      .payload_sha256 = sha256Hex(json),
      .what = "commit " + label};
  auto r = client_.send(put);
  if (!r) return tl::unexpected(r.error());
  if (!r->ok()) return tl::unexpected(client_.errorFor(put, *r));

  auto after = client_.send(head);
  if (!after) return tl::unexpected(after.error());
  if (!after->ok()) return tl::unexpected(client_.errorFor(head, *after));
  if (after->header("x-amz-meta-cutover-commit") != token) {
    return fail(Errc::already_exists, label + " already exists (another commit of it won)");
  }
  return {};
}

Result<Manifest> S3ObjectStore::readManifest(const std::string& site, const std::string& version) {
  if (auto ok = validateSiteName(site); !ok) return tl::unexpected(ok.error());
  if (auto ok = validateVersionId(version); !ok) return tl::unexpected(ok.error());
  const std::string key = manifestKey(site, version);
  S3Request get{.method = "GET",
                .key = key,
                .what = fmt::format("read version {} of site {}", version, site)};
  auto r = client_.send(get);
  if (!r) return tl::unexpected(r.error());
  if (!r->ok()) {
    Error error = client_.errorFor(get, *r);
    if (error.code == Errc::not_found)
      error.message = "site " + site + " has no version " + version;
    return tl::unexpected(std::move(error));
  }
  auto manifest = Manifest::fromJson(r->body);
  const std::string where = fmt::format("s3://{}/{}", config().bucket, key);
  if (!manifest) {
    return fail(Errc::io,
                fmt::format("manifest {} is corrupt: {}", where, manifest.error().message));
  }
  if (manifest->site != site || manifest->version != version) {
    return fail(Errc::io, fmt::format("manifest {} is corrupt: it describes version {} of site {}",
                                      where, manifest->version, manifest->site));
  }
  return manifest;
}

Result<S3ObjectStore::Listing> S3ObjectStore::list(const std::string& prefix, bool folders,
                                                   std::size_t max_keys) {
  Listing out;
  std::string token;
  while (true) {
    S3Request get{.method = "GET",
                  .query = listQuery(prefix, folders, config().page_size, token),
                  .what = fmt::format("list s3://{}/{}", config().bucket, prefix)};
    auto r = client_.send(get);
    if (!r) return tl::unexpected(r.error());
    if (!r->ok()) return tl::unexpected(client_.errorFor(get, *r));
    auto page = s3xml::parseListObjectsV2(r->body);
    if (!page) return tl::unexpected(page.error());
    auto& names = folders ? page->common_prefixes : page->keys;
    for (auto& name : names) out.keys.push_back(std::move(name));
    if (!page->truncated) return out;
    if (max_keys != 0 && out.keys.size() >= max_keys) {
      out.complete = false;
      return out;
    }
    token = std::move(page->next_token);
  }
}

Result<std::string> S3ObjectStore::createdOf(const std::string& key, const std::string& head) {
  std::string created = createdFromHead(head);
  if (!created.empty()) return created;
  S3Request get{.method = "GET", .key = key, .what = "read " + key};
  auto r = client_.send(get);
  if (!r) return tl::unexpected(r.error());
  if (!r->ok()) return tl::unexpected(client_.errorFor(get, *r));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object()) return std::string();
  auto it = j.find("created");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<std::vector<VersionInfo>> S3ObjectStore::listVersions(const std::string& site) {
  if (auto ok = validateSiteName(site); !ok) return tl::unexpected(ok.error());
  const std::string prefix = fmt::format("{}manifests/{}/", config().prefix, site);
  auto listing = list(prefix, false);
  if (!listing) return tl::unexpected(listing.error());

  std::vector<std::string> versions;
  std::vector<S3Request> heads;
  for (const auto& key : listing->keys) {
    std::string_view name = std::string_view(key).substr(prefix.size());
    if (!name.ends_with(".json")) continue;
    name.remove_suffix(5);
    if (!validateVersionId(name)) continue;
    versions.emplace_back(name);
    // Only the head of each manifest: "created" comes first, and a manifest can be megabytes.
    heads.push_back(
        {.method = "GET", .key = key, .headers = {"Range: bytes=0-255"}, .what = "read " + key});
  }
  auto results = client_.sendAll(heads);
  std::vector<VersionInfo> out;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    if (!results[i]) return tl::unexpected(results[i].error());
    if (results[i]->status == 404) continue;  // deleted since the listing
    if (!results[i]->ok()) return tl::unexpected(client_.errorFor(heads[i], *results[i]));
    auto created = createdOf(heads[i].key, results[i]->body);
    if (!created) {
      if (created.error().code == Errc::not_found) continue;
      return tl::unexpected(created.error());
    }
    out.push_back({std::move(versions[i]), std::move(*created)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.version > b.version;
  });
  return out;
}

Result<std::vector<std::string>> S3ObjectStore::listSites() {
  const std::string prefix = config().prefix + "manifests/";
  auto listing = list(prefix, true);
  if (!listing) return tl::unexpected(listing.error());
  std::vector<std::string> out;
  for (const auto& folder : listing->keys) {
    std::string_view site = std::string_view(folder).substr(prefix.size());
    if (site.ends_with('/')) site.remove_suffix(1);
    if (validateSiteName(site)) out.emplace_back(site);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<std::string>> S3ObjectStore::listBlobs() {
  const std::string prefix = config().prefix + "blobs/";
  auto listing = list(prefix, false);
  if (!listing) return tl::unexpected(listing.error());
  std::vector<std::string> out;
  for (const auto& key : listing->keys) {
    std::string_view hash = std::string_view(key).substr(prefix.size());
    if (isBlobHash(hash)) out.emplace_back(hash);
  }
  return out;
}

Result<void> S3ObjectStore::deleteManifest(const std::string& site, const std::string& version) {
  if (auto ok = validateSiteName(site); !ok) return ok;
  if (auto ok = validateVersionId(version); !ok) return ok;
  S3Request del{.method = "DELETE",
                .key = manifestKey(site, version),
                .what = fmt::format("delete version {} of site {}", version, site)};
  return deleteKey(del);
}

Result<void> S3ObjectStore::deleteBlob(const std::string& hash) {
  if (!isBlobHash(hash)) return fail(Errc::invalid_argument, "'" + hash + "' is not a blob hash");
  S3Request del{.method = "DELETE", .key = blobKey(hash), .what = "delete blob " + hash};
  return deleteKey(del);
}

Result<void> S3ObjectStore::deleteKey(const S3Request& del) {
  auto r = client_.send(del);
  if (!r) return tl::unexpected(r.error());
  if (r->ok()) return {};
  Error error = client_.errorFor(del, *r);
  if (error.code == Errc::not_found) return {};  // gone already (not: no such bucket)
  return tl::unexpected(std::move(error));
}

Result<std::size_t> S3ObjectStore::removeLeftovers() {
  // Only blobs go up in parts: uploads under blobs/ that never completed are leftovers.
  const std::string prefix = config().prefix + "blobs/";
  std::size_t removed = 0;
  std::string key_marker;
  std::string id_marker;
  while (true) {
    std::string query;  // names in canonical (sorted) order
    if (!key_marker.empty()) query += "key-marker=" + uriEncode(key_marker, false) + "&";
    query += "prefix=" + uriEncode(prefix, false) + "&";
    if (!id_marker.empty()) query += "upload-id-marker=" + uriEncode(id_marker, false) + "&";
    query += "uploads=";
    S3Request get{
        .method = "GET",
        .query = query,
        .what = fmt::format("list unfinished uploads in s3://{}/{}", config().bucket, prefix)};
    auto r = client_.send(get);
    if (!r) return tl::unexpected(r.error());
    if (!r->ok()) return tl::unexpected(client_.errorFor(get, *r));
    auto page = s3xml::parseListMultipartUploads(r->body);
    if (!page) return tl::unexpected(page.error());
    std::vector<S3Request> aborts;
    for (const auto& [key, id] : page->uploads) {
      aborts.push_back({.method = "DELETE",
                        .key = key,
                        .query = "uploadId=" + uriEncode(id, false),
                        .what = "abort unfinished upload of " + key});
    }
    auto results = client_.sendAll(aborts);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i]) return tl::unexpected(results[i].error());
      if (results[i]->ok()) {
        ++removed;
      } else if (results[i]->status != 404) {
        return tl::unexpected(client_.errorFor(aborts[i], *results[i]));
      }
    }
    if (!page->truncated) return removed;
    if (page->next_key_marker.empty() && page->next_upload_id_marker.empty()) return removed;
    key_marker = page->next_key_marker;
    id_marker = page->next_upload_id_marker;
  }
}

}  // namespace cutover
