#include "pipeline/upload.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

#include "common/work_pool.h"
#include "cutover/common/fd.h"
#include "cutover/common/hash.h"
#include "cutover/common/media_type.h"
#include "cutover/common/site_path.h"
#include "cutover/pointer/records.h"
#include "pipeline/pipeline.h"
#include "pipeline/precompress.h"
#include "pipeline/recorder.h"
#include "pipeline/stat_cache.h"

namespace cutover {
namespace {

constexpr std::size_t kBufferSize = 256 * 1024;

// Progress shared by the writer threads; reports at most every 64 KiB of change per call site.
class ProgressMeter {
 public:
  ProgressMeter(const DeployProgress& report, std::uint64_t total_bytes, std::uint64_t total_files)
      : report_(report), total_bytes_(total_bytes), total_files_(total_files) {}

  void add(std::uint64_t bytes, std::uint64_t files) {
    auto b = bytes_.fetch_add(bytes) + bytes;
    auto f = files_.fetch_add(files) + files;
    if (!report_) return;
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (lock.owns_lock()) report_("store", b, total_bytes_, f, total_files_);
  }
  void setTotals(std::uint64_t total_bytes, std::uint64_t total_files) {
    total_bytes_ = total_bytes;
    total_files_ = total_files;
  }

 private:
  const DeployProgress& report_;
  std::uint64_t total_bytes_, total_files_;
  std::atomic<std::uint64_t> bytes_{0}, files_{0};
  std::mutex mutex_;
};

// Store jobs run on a few threads (a WorkPool), so the per-blob fsyncs overlap (the file system
// commits concurrent syncs together: 8 writers are ~7x faster than 1 here).
unsigned writerThreads(const DeployOptions& options, const ObjectStore& store) {
  return options.threads != 0 ? options.threads : std::clamp(store.parallelWrites(), 1U, 64U);
}

// Whether precompression will want this file's content.
bool wantsLocalCopy(const DeployOptions& options, const std::string& path, std::uint64_t size) {
  return options.precompress &&
         isPrecompressCandidate(size, mediaTypeFor(path), options.compression);
}

// Streams `reader` into a new blob; returns what the store says about it.
Result<StoredBlob> storeStream(ObjectStore& objects, EntryReader& reader,
                               std::string_view expected_hash, ProgressMeter& meter) {
  auto writer = objects.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  std::vector<std::byte> buffer(kBufferSize);
  while (true) {
    auto n = reader.read(buffer);
    if (!n) return tl::unexpected(n.error());
    if (*n == 0) break;
    if (auto w = (*writer)->write(std::span(buffer.data(), *n)); !w)
      return tl::unexpected(w.error());
    meter.add(*n, 0);
  }
  return (*writer)->finish(expected_hash);
}

class FileReader final : public EntryReader {
 public:
  explicit FileReader(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<std::size_t> read(std::span<std::byte> buffer) override {
    while (true) {
      ssize_t n = ::read(fd_.get(), buffer.data(), buffer.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return failErrno("read", errno);
    }
  }

 private:
  UniqueFd fd_;
};

Result<StoredBlob> storeFile(ObjectStore& objects, const SourceEntry& entry,
                             std::string_view expected_hash, ProgressMeter& meter) {
  UniqueFd fd(::open(entry.disk_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return failErrno("open " + entry.disk_path.string(), errno);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  FileReader reader(std::move(fd));
  auto stored = storeStream(objects, reader, expected_hash, meter);
  if (!stored) {
    auto error = stored.error();
    error.message = entry.path + ": " + error.message;
    return tl::unexpected(std::move(error));
  }
  return stored;
}

// Folder sources: list first (cheap), then store on several threads.
Result<UploadResult> uploadFolder(const PipelineContext& context, Source& source,
                                  const DeployOptions& options, CreatedBlobs& created_blobs) {
  std::vector<SourceEntry> entries;
  auto listed = source.forEach([&](const SourceEntry& entry, EntryReader&) -> Result<void> {
    entries.push_back(entry);
    return {};
  });
  if (!listed) return tl::unexpected(listed.error());

  // A stat-cache hit still needs its blob in the store (gc may have removed it).
  std::vector<std::string> hashes(entries.size());
  std::vector<std::string> cached;
  if (context.stat_cache != nullptr) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (auto hit = context.stat_cache->lookup(entries[i].disk_path, entries[i].identity)) {
        hashes[i] = *hit;
        cached.push_back(*hit);
      }
    }
  }
  auto absent = context.objects->missing(cached);
  if (!absent) return tl::unexpected(absent.error());
  std::sort(absent->begin(), absent->end());

  struct Job {
    std::size_t index;
    std::string expected;  // from the stat cache; empty when unknown
  };
  std::vector<Job> jobs;
  std::uint64_t todo_bytes = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    bool known = !hashes[i].empty();
    if (known && !std::binary_search(absent->begin(), absent->end(), hashes[i])) continue;
    jobs.push_back({i, hashes[i]});
    todo_bytes += entries[i].size;
  }

  ProgressMeter meter(options.progress, todo_bytes, jobs.size());
  UploadResult result;
  std::vector<char> created(entries.size(), 0);
  {
    WorkPool pool(writerThreads(options, *context.objects), 0);
    for (const auto& job : jobs) {
      bool queued = pool.submit(0, [&, job](unsigned /*worker*/) -> Result<void> {
        const auto& entry = entries[job.index];
        auto stored = storeFile(*context.objects, entry, job.expected, meter);
        if (!stored && !job.expected.empty() && stored.error().code == Errc::invalid_argument) {
          // The stat cache was wrong (a file rewritten within its timestamp): store what is there.
          stored = storeFile(*context.objects, entry, {}, meter);
        }
        if (!stored) return tl::unexpected(stored.error());
        hashes[job.index] = stored->hash;
        created[job.index] = stored->created ? 1 : 0;
        if (stored->created) created_blobs.add(stored->hash);
        meter.add(0, 1);
        return {};
      });
      if (!queued) break;
    }
    if (auto done = pool.finish(); !done) return tl::unexpected(done.error());
  }

  std::vector<StatCache::Update> updates;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    result.files.emplace(e.path, FileEntry{hashes[i], e.size, std::string(mediaTypeFor(e.path))});
    result.bytes += e.size;
    if (created[i] != 0) {
      ++result.new_files;
      result.new_bytes += e.size;
    }
    updates.push_back({e.disk_path, e.identity, hashes[i]});
    if (wantsLocalCopy(options, e.path, e.size)) result.local.files.emplace(hashes[i], e.disk_path);
  }
  if (auto flushed = context.objects->flush(); !flushed) return tl::unexpected(flushed.error());
  if (context.stat_cache != nullptr) {
    // Only a hint for the next deploy: failing to record it must not fail this one.
    (void)context.stat_cache->record(updates);
  }
  return result;
}

// An archive is read once, front to back, on this thread. Entries up to kInMemoryEntry are read
// into memory and stored by the writer pool (so their fsyncs overlap); larger ones stream
// straight into the store from here.
constexpr std::uint64_t kInMemoryEntry = 4ULL << 20;
constexpr std::uint64_t kMaxQueuedBytes = 64ULL << 20;
// The bytes of small compressible entries are kept for precompression, which otherwise reads
// them back from the store (the archive cannot be read out of order): on S3 that is a GET per
// file. Past this many bytes of them, and for every larger entry, precompression streams the
// blob back from the store instead, so a deploy's memory does not grow with its files.
constexpr std::uint64_t kMaxKeptBytes = 64ULL << 20;

Result<std::string> readEntry(EntryReader& reader, std::uint64_t size) {
  std::string bytes(size, '\0');
  std::size_t done = 0;
  while (true) {
    std::span<std::byte> rest(reinterpret_cast<std::byte*>(bytes.data()) + done,
                              bytes.size() - done);
    if (rest.empty()) {
      std::byte extra[1];
      auto n = reader.read(extra);  // must be at the end now
      if (!n) return tl::unexpected(n.error());
      if (*n != 0) return fail(Errc::bad_archive, "entry is longer than its declared size");
      return bytes;
    }
    auto n = reader.read(rest);
    if (!n) return tl::unexpected(n.error());
    if (*n == 0) return fail(Errc::bad_archive, "entry is shorter than its declared size");
    done += *n;
  }
}

Result<StoredBlob> storeBytes(ObjectStore& objects, const std::string& bytes) {
  auto writer = objects.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  auto span = std::as_bytes(std::span(bytes.data(), bytes.size()));
  if (auto w = (*writer)->write(span); !w) return tl::unexpected(w.error());
  return (*writer)->finish();
}

Result<UploadResult> uploadArchive(const PipelineContext& context, Source& source,
                                   const DeployOptions& options, CreatedBlobs& created) {
  UploadResult result;
  std::mutex result_mutex;
  auto record = [&](const std::string& path, std::uint64_t size, const StoredBlob& stored) {
    if (stored.created) created.add(stored.hash);
    std::lock_guard lock(result_mutex);
    result.bytes += size;
    if (stored.created) {
      ++result.new_files;
      result.new_bytes += size;
    }
    result.files.emplace(path, FileEntry{stored.hash, size, std::string(mediaTypeFor(path))});
  };
  auto located = [](const std::string& path, Error error) {
    error.message = path + ": " + error.message;
    return tl::unexpected(std::move(error));
  };
  std::uint64_t kept_bytes = 0;  // only the reading thread reserves
  auto keep = [&](const std::string& hash, std::string bytes) {
    std::lock_guard lock(result_mutex);
    result.local.bytes.emplace(hash, std::move(bytes));
  };

  DeployProgress none;
  ProgressMeter meter(none, 0, 0);
  std::uint64_t files = 0;
  WorkPool pool(writerThreads(options, *context.objects), kMaxQueuedBytes);
  auto visited = source.forEach(
      [&](const SourceEntry& entry, EntryReader& reader) -> Result<void> {
        ++files;
        bool kept = entry.size <= kInMemoryEntry &&
                    wantsLocalCopy(options, entry.path, entry.size) &&
                    kept_bytes + entry.size <= kMaxKeptBytes;
        if (kept) kept_bytes += entry.size;
        if (entry.size > kInMemoryEntry && !kept) {
          auto stored = storeStream(*context.objects, reader, {}, meter);
          if (!stored) return located(entry.path, stored.error());
          record(entry.path, entry.size, *stored);
          return {};
        }
        auto bytes = readEntry(reader, entry.size);
        if (!bytes) return located(entry.path, bytes.error());
        auto size = entry.size;
        bool queued = pool.submit(size,
                                  [&, path = entry.path, size, kept, data = std::move(*bytes)](
                                      unsigned /*worker*/) mutable -> Result<void> {
                                    auto stored = storeBytes(*context.objects, data);
                                    if (!stored) return located(path, stored.error());
                                    record(path, size, *stored);
                                    if (kept) keep(stored->hash, std::move(data));
                                    return {};
                                  });
        if (!queued) return pool.finish();  // a writer failed: stop reading, report its error
        return {};
      },
      [&](std::uint64_t done, std::uint64_t total) {
        if (options.progress) options.progress("store", done, total, files, 0);
      });
  auto written = pool.finish();
  if (!visited) return tl::unexpected(visited.error());
  if (!written) return tl::unexpected(written.error());
  if (auto flushed = context.objects->flush(); !flushed) return tl::unexpected(flushed.error());
  return result;
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
          std::uint64_t size = blob == &entry.hash      ? entry.size
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

Result<UploadResult> uploadSource(const PipelineContext& context, Source& source,
                                  const DeployOptions& options, CreatedBlobs& created) {
  if (std::filesystem::is_directory(options.source)) {
    return uploadFolder(context, source, options, created);
  }
  return uploadArchive(context, source, options, created);
}

Result<RemoteFileList> RemoteFileList::expect(std::size_t count, const SourceLimits& limits,
                                              std::uint64_t max_file_bytes) {
  if (count == 0) return fail(Errc::invalid_argument, "the deploy has no files");
  if (count > limits.max_files) {
    return fail(Errc::too_large, fmt::format("the deploy has {} files, over the limit of {} "
                                             "(max_files)",
                                             count, limits.max_files));
  }
  return RemoteFileList(limits, max_file_bytes);
}

Result<void> RemoteFileList::add(const std::string& raw_path, std::string_view hash,
                                 std::optional<std::uint64_t> size) {
  auto path = normalizeSitePath(raw_path);
  if (!path) return tl::unexpected(path.error());
  if (!isBlobHash(hash) || !size) {
    return fail(Errc::invalid_argument,
                raw_path + ": needs \"hash\" (64 lowercase hex) and \"size\" (bytes)");
  }
  if (*size > std::min(limits_.max_file_bytes, max_file_bytes_)) {
    return fail(Errc::too_large,
                fmt::format("{}: {} bytes is over the limit for one file", raw_path, *size));
  }
  total_ += *size;
  auto [known, fresh] = blobs_.emplace(std::string(hash), *size);
  if (!fresh && known->second != *size) {
    return fail(Errc::invalid_argument,
                raw_path + ": the same hash was given with two different sizes");
  }
  FileEntry entry{std::string(hash), *size, std::string(mediaTypeFor(*path)), {}, {}};
  if (!files_.emplace(*path, std::move(entry)).second) {
    return fail(Errc::invalid_argument,
                raw_path + ": names the same file as another path (" + *path + ")");
  }
  return {};
}

Result<void> RemoteFileList::complete() const {
  if (total_ > limits_.max_total_bytes) {
    return fail(Errc::too_large, fmt::format("the deploy holds {} bytes, over the limit of {}",
                                             total_, limits_.max_total_bytes));
  }
  return {};
}

Result<std::unique_ptr<RemoteUpload>> RemoteUpload::begin(const PipelineContext& context,
                                                          const std::string& site,
                                                          std::string source, bool activate,
                                                          std::int64_t preview_seconds,
                                                          RemoteFileList list) {
  // From here on gc waits: the blobs reported present stay present until the deploy ends.
  auto lock = StoreLock::acquire(context.lock_file, StoreLock::Mode::shared,
                                 FleetRequest{context.pointers, "remote deploy " + site, site});
  if (!lock) return tl::unexpected(lock.error());
  auto before = context.pointers->get(liveKey(site));
  if (!before) return tl::unexpected(before.error());
  // Present means held by this site's versions (and still stored), with the size given;
  // everything else is missing, whoever else stores it.
  auto held = blobsOfSite(*context.objects, site, list.blobs_);
  if (!held) return tl::unexpected(held.error());
  for (const auto& [held_hash, size] : *held) {
    const std::string& hash = held_hash;  // a lambda cannot capture a structured binding (C++20)
    if (list.blobs_.at(hash) == size) continue;
    auto named = std::find_if(list.files_.begin(), list.files_.end(),
                              [&](const auto& e) { return e.second.hash == hash; });
    return fail(Errc::invalid_argument, fmt::format("{}: blob {} is {} bytes, not {}", named->first,
                                                    hash, size, list.blobs_.at(hash)));
  }
  std::vector<std::string> held_hashes;
  for (const auto& [hash, size] : *held) held_hashes.push_back(hash);
  auto gone = context.objects->missing(held_hashes);
  if (!gone) return tl::unexpected(gone.error());
  std::set<std::string> present(held_hashes.begin(), held_hashes.end());
  for (const auto& hash : *gone) present.erase(hash);

  DeployRecord record;
  record.site = site;
  record.source = std::move(source);
  record.trigger = "remote";
  record.files = list.files_.size();
  record.bytes = list.total_;
  if (auto begun = Recorder(record, context.history).begin(); !begun) {
    return tl::unexpected(begun.error());
  }
  std::unique_ptr<RemoteUpload> upload(new RemoteUpload(std::move(record), std::move(*lock)));
  upload->activate_ = activate;
  upload->preview_seconds_ = preview_seconds;
  upload->expected_pointer_ = *before;
  for (const auto& [hash, size] : list.blobs_) {
    if (!present.contains(hash)) upload->missing_.push_back(hash);
  }
  upload->files_ = std::move(list.files_);
  upload->blobs_ = std::move(list.blobs_);
  upload->held_ = std::move(present);
  return upload;
}

Result<RemoteUpload::Accepted> RemoteUpload::accept(ObjectStore& objects, const std::string& hash,
                                                    std::optional<std::uint64_t> declared_size,
                                                    const BlobBody& body) {
  auto blob = blobs_.find(hash);
  if (blob == blobs_.end()) {
    return fail(Errc::invalid_argument, "blob " + hash + " is not a file of deploy " + record_.id);
  }
  std::uint64_t size = blob->second;
  auto wrong_size = [&](const auto& sent) {
    return fail(Errc::invalid_argument,
                fmt::format("blob {} is {} bytes, but {} were sent", hash, size, sent));
  };
  if (declared_size && *declared_size != size) return wrong_size(*declared_size);
  auto writer = objects.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  std::vector<std::byte> buffer(kBufferSize);
  std::uint64_t received = 0;
  while (true) {
    auto n = body(buffer);
    // Dropping the writer unfinished discards what it holds: nothing is stored.
    if (!n) return tl::unexpected(n.error());
    if (*n == 0) break;
    received += *n;
    if (received > size) return wrong_size("more");
    if (auto w = (*writer)->write(std::span(buffer.data(), *n)); !w) {
      return tl::unexpected(w.error());
    }
  }
  if (received != size) return wrong_size(received);
  auto stored = (*writer)->finish(hash);
  if (!stored) {
    if (stored.error().code == Errc::invalid_argument) {
      return fail(Errc::invalid_argument,
                  "the bytes sent do not match blob " + hash + "; nothing was stored");
    }
    return tl::unexpected(stored.error());
  }
  {
    std::lock_guard guard(received_mutex_);
    received_.insert(hash);
  }
  if (stored->created) {
    uploaded_ += 1;
    uploaded_bytes_ += size;
  }
  return Accepted{size, stored->created};
}

Result<void> RemoteUpload::ready(ObjectStore& objects, std::vector<std::string>& missing) {
  std::vector<std::string> hashes;
  for (const auto& [hash, size] : blobs_) hashes.push_back(hash);
  auto stored = objects.missing(hashes);
  if (!stored) return tl::unexpected(stored.error());
  std::set<std::string> absent(stored->begin(), stored->end());
  std::lock_guard guard(received_mutex_);
  for (const auto& hash : hashes) {
    if (absent.contains(hash) || (!held_.contains(hash) && !received_.contains(hash))) {
      missing.push_back(hash);
    }
  }
  if (missing.empty()) return {};
  return fail(Errc::invalid_argument,
              fmt::format("{} of the deploy's {} blobs were never uploaded (first: {})",
                          missing.size(), hashes.size(), missing.front()));
}

Result<DeployReport> RemoteUpload::finish(const PipelineContext& context) {
  DeployReport report;
  report.deploy_id = record_.id;
  report.site = record_.site;
  report.source = record_.source;
  report.files = files_.size();
  for (const auto& [path, entry] : files_) report.bytes += entry.size;
  report.new_files = std::min<std::uint64_t>(uploaded_, report.files);
  report.reused_files = report.files - report.new_files;
  report.new_bytes = uploaded_bytes_;
  report.stages.push_back(
      {std::string(toString(Stage::upload)),
       std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
           .count()});
  Result<void> done = context.objects->flush();
  if (done) {
    FinalizeInput input{record_.site, record_.source, files_, expected_pointer_, activate_, ""};
    input.preview_seconds = preview_seconds_;
    done = finalizeVersion(context, std::move(input), report);
  }
  Recorder recorder(record_, context.history);
  recorder.take(report);
  recorder.finish(done);
  auto saved = recorder.save();
  if (!done) return tl::unexpected(done.error());
  if (!saved) return tl::unexpected(saved.error());
  return report;
}

Result<void> RemoteUpload::abandon(History* history, const std::string& why) {
  Recorder recorder(record_, history);
  Error error{Errc::interrupted, why};
  recorder.finish(&error);
  return recorder.save();
}

}  // namespace cutover
