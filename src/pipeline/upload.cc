#include "pipeline/upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cutover/common/fd.h"
#include "cutover/common/media_type.h"
#include "pipeline/precompress.h"
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

// Runs store jobs on a few threads, so the per-blob fsyncs overlap (the file system commits
// concurrent syncs together: 8 writers are ~7x faster than 1 here). Bounds the bytes that
// queued jobs hold in memory. The first failure stops the rest.
class WriterPool {
 public:
  WriterPool(unsigned threads, std::uint64_t max_queued_bytes)
      : max_queued_bytes_(max_queued_bytes) {
    for (unsigned t = 0; t < threads; ++t) threads_.emplace_back([this] { work(); });
  }
  ~WriterPool() { (void)finish(); }
  WriterPool(const WriterPool&) = delete;
  WriterPool& operator=(const WriterPool&) = delete;

  // Queues a job holding `bytes` of memory, waiting while the queue holds too much.
  // Returns false (and drops the job) once a job has failed.
  bool submit(std::uint64_t bytes, std::function<Result<void>()> job) {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] {
      return error_ || queued_bytes_ == 0 || queued_bytes_ + bytes <= max_queued_bytes_;
    });
    if (error_) return false;
    queued_bytes_ += bytes;
    jobs_.push_back({bytes, std::move(job)});
    ready_.notify_one();
    return true;
  }

  // Waits for every queued job and stops the threads; the first error, if any.
  Result<void> finish() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
    threads_.clear();  // joins
    if (error_) return tl::unexpected(*error_);
    return {};
  }

  [[nodiscard]] bool failed() {
    std::lock_guard lock(mutex_);
    return error_.has_value();
  }

 private:
  struct Job {
    std::uint64_t bytes;
    std::function<Result<void>()> run;
  };

  void work() {
    while (true) {
      Job job;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      auto done = error_ ? Result<void>{} : job.run();
      std::lock_guard lock(mutex_);
      queued_bytes_ -= job.bytes;
      if (!done && !error_) error_ = done.error();
      space_.notify_all();
    }
  }

  std::uint64_t max_queued_bytes_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<Job> jobs_;
  std::uint64_t queued_bytes_ = 0;
  std::optional<Error> error_;
  bool closed_ = false;
  std::vector<std::jthread> threads_;
};

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
    WriterPool pool(writerThreads(options, *context.objects), 0);
    for (const auto& job : jobs) {
      bool queued = pool.submit(0, [&, job]() -> Result<void> {
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
  WriterPool pool(writerThreads(options, *context.objects), kMaxQueuedBytes);
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
        bool queued = pool.submit(
            size,
            [&, path = entry.path, size, kept, data = std::move(*bytes)]() mutable -> Result<void> {
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

}  // namespace

Result<UploadResult> uploadSource(const PipelineContext& context, Source& source,
                                  const DeployOptions& options, CreatedBlobs& created) {
  if (std::filesystem::is_directory(options.source)) {
    return uploadFolder(context, source, options, created);
  }
  return uploadArchive(context, source, options, created);
}

}  // namespace cutover
