#include "pipeline/precompress.h"

#include <brotli/encode.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <semaphore>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cutover/common/fd.h"
#include "cutover/common/hash.h"

namespace cutover {
namespace {

// Names the rules below (what is kept, the probe) in the cache key: change it when they change,
// so no cached answer made under other rules is trusted.
constexpr std::string_view kRulesVersion = "v1";

// A form is worth its blob, its manifest entry and the client's decoding only if it saves at
// least 1% of the file and at least 32 bytes (about what Content-Encoding and Vary cost).
bool worthKeeping(std::uint64_t compressed, std::uint64_t original) {
  std::uint64_t saving = std::max<std::uint64_t>(32, original / 100);
  return compressed + saving <= original;
}

// Before spending brotli's best quality on a file, a fast pass over its start tells whether it
// compresses at all: already-compressed or random bytes under a text extension are common
// enough (inlined data, minified bundles of base64) that best-quality passes over them would
// dominate a deploy.
constexpr std::size_t kProbeBytes = 64 * 1024;
constexpr int kProbeQuality = 1;

std::string_view baseType(std::string_view media_type) {
  auto semicolon = media_type.find(';');
  auto base = media_type.substr(0, semicolon);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return base;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

int brotliQuality(std::uint64_t size, const PrecompressOptions& options) {
  return size > options.brotli_large_from ? options.brotli_large_quality : options.brotli_quality;
}

// The smallest window that holds the whole file: brotli sizes its tables by the window, and
// setting them up for 4 MiB costs more than compressing a 2 KiB page.
int brotliWindow(std::uint64_t size) {
  int bits = BROTLI_MIN_WINDOW_BITS;
  while (bits < BROTLI_MAX_WINDOW_BITS && (std::uint64_t{1} << bits) - 16 < size) ++bits;
  return bits;
}

BrotliEncoderMode brotliMode(std::string_view media_type) {
  auto type = baseType(media_type);
  if (type.starts_with("font/")) return BROTLI_MODE_FONT;
  if (type.starts_with("text/") || endsWith(type, "json") || endsWith(type, "xml") ||
      type == "application/javascript") {
    return BROTLI_MODE_TEXT;
  }
  return BROTLI_MODE_GENERIC;
}

const std::uint8_t* bytesOf(std::string_view s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// The brotli stream of `input`, or nothing if the encoder refused (it does not on valid input).
std::optional<std::string> brotli(std::string_view input, int quality, BrotliEncoderMode mode) {
  std::size_t size = BrotliEncoderMaxCompressedSize(input.size());
  if (size == 0) return std::nullopt;
  std::string out(size, '\0');
  if (BrotliEncoderCompress(quality, brotliWindow(input.size()), mode, input.size(), bytesOf(input),
                            &size, reinterpret_cast<std::uint8_t*>(out.data())) != BROTLI_TRUE) {
    return std::nullopt;
  }
  out.resize(size);
  return out;
}

// A gzip file (RFC 1952, what `gzip -d` reads) of `input`, or nothing once the output passes
// `give_up_at` bytes: it could not be worth keeping.
std::optional<std::string> gzip(std::string_view input, int level, std::uint64_t give_up_at) {
  z_stream z{};
  // 15 window bits, +16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  constexpr std::size_t kChunk = 1 << 20;  // avail_in and avail_out are 32 bits
  std::string out;
  std::size_t consumed = 0;
  int rc = Z_OK;
  bool finished = false;
  while (!finished && rc != Z_STREAM_END && out.size() <= give_up_at) {
    std::size_t in_chunk = std::min(input.size() - consumed, kChunk);
    z.next_in = const_cast<Bytef*>(bytesOf(input.substr(consumed)));
    z.avail_in = static_cast<uInt>(in_chunk);
    consumed += in_chunk;
    finished = consumed == input.size();
    do {
      std::size_t used = out.size();
      out.resize(used + kChunk);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
      z.avail_out = static_cast<uInt>(kChunk);
      rc = deflate(&z, finished ? Z_FINISH : Z_NO_FLUSH);
      out.resize(used + kChunk - z.avail_out);
    } while (rc == Z_OK && z.avail_out == 0);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) break;
  }
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

// Bounds the bytes the compressing threads hold at once; one job larger than the bound runs
// alone.
class MemoryGate {
 public:
  explicit MemoryGate(std::uint64_t max) : max_(max) {}
  void acquire(std::uint64_t bytes) {
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] { return held_ == 0 || held_ + bytes <= max_; });
    held_ += bytes;
  }
  void release(std::uint64_t bytes) {
    {
      std::lock_guard lock(mutex_);
      held_ -= bytes;
    }
    freed_.notify_all();
  }

 private:
  std::uint64_t max_;
  std::uint64_t held_ = 0;
  std::mutex mutex_;
  std::condition_variable freed_;
};

// One distinct content to compress, with the first path that has it (for messages).
struct Job {
  std::string hash;
  std::uint64_t size = 0;
  std::string path;
  std::string media_type;
  CompressedForms forms;
  std::uint64_t new_blobs = 0;
  bool stored = false;     // a form was written to the store (it then needs a flush)
  bool read_back = false;  // the content was read from the store: no local copy
};

std::string cacheSettings(const PrecompressOptions& options, std::uint64_t size) {
  return fmt::format("br{}-gzip{}-{}", brotliQuality(size, options), options.gzip_level,
                     kRulesVersion);
}

Result<Encoded> storeForm(ObjectStore& objects, const std::string& bytes, Job& job) {
  auto writer = objects.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  job.stored = true;
  if (auto w = (*writer)->write(std::as_bytes(std::span(bytes.data(), bytes.size()))); !w) {
    return tl::unexpected(w.error());
  }
  auto stored = (*writer)->finish();
  if (!stored) return tl::unexpected(stored.error());
  if (stored->created) ++job.new_blobs;
  return Encoded{stored->hash, bytes.size()};
}

// The content of a file as it is now, if it is still exactly `size` bytes hashing to `hash`;
// nothing if it is gone, unreadable or changed since it was stored. Only a shortcut: the store
// holds the content either way.
std::optional<std::string> readLocalFile(const std::filesystem::path& path, std::uint64_t size,
                                         const std::string& hash) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string bytes(size + 1, '\0');  // one byte more: a file that grew does not match
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (done != size) return std::nullopt;
  bytes.resize(size);
  if (sha256Hex(bytes) != hash) return std::nullopt;
  return bytes;
}

// The content to compress: held in memory, or read into `owned` from a local file or, failing
// both, from the store.
Result<std::string_view> contentOf(ObjectStore& objects, const LocalContent* local, Job& job,
                                   std::string& owned) {
  if (local != nullptr) {
    if (auto held = local->bytes.find(job.hash); held != local->bytes.end()) return held->second;
    if (auto file = local->files.find(job.hash); file != local->files.end()) {
      if (auto bytes = readLocalFile(file->second, job.size, job.hash)) {
        owned = std::move(*bytes);
        return owned;
      }
    }
  }
  auto content = objects.readBlob(job.hash);
  if (!content) return tl::unexpected(content.error());
  job.read_back = true;
  owned = std::move(*content);
  return owned;
}

// The forms of `input` worth keeping; CPU only.
struct Made {
  std::optional<std::string> br, gzip;
};
Made makeForms(std::string_view input, std::string_view media_type,
               const PrecompressOptions& options) {
  Made made;
  auto mode = brotliMode(media_type);
  auto probe_input = input.substr(0, kProbeBytes);
  auto probe = brotli(probe_input, kProbeQuality, mode);
  if (!probe || !worthKeeping(probe->size(), probe_input.size())) return made;

  if (auto br = brotli(input, brotliQuality(input.size(), options), mode);
      br && worthKeeping(br->size(), input.size())) {
    made.br = std::move(br);
  }
  if (auto gz = gzip(input, options.gzip_level, input.size());
      gz && worthKeeping(gz->size(), input.size())) {
    made.gzip = std::move(gz);
  }
  return made;
}

// Reading the content and storing the forms wait on the store (tens of milliseconds a request
// on S3) and take no CPU, so more jobs than cores are in progress at once; only the compressing
// itself is bounded to options.threads by `cpu`.
Result<void> compress(ObjectStore& objects, const LocalContent* local,
                      const PrecompressOptions& options, std::counting_semaphore<>& cpu, Job& job) {
  std::string owned;
  auto input = contentOf(objects, local, job, owned);
  if (!input) return tl::unexpected(input.error());
  cpu.acquire();
  auto made = makeForms(*input, job.media_type, options);
  cpu.release();
  std::string().swap(owned);

  if (made.br) {
    auto stored = storeForm(objects, *made.br, job);
    if (!stored) return tl::unexpected(stored.error());
    job.forms.br = std::move(*stored);
  }
  if (made.gzip) {
    auto stored = storeForm(objects, *made.gzip, job);
    if (!stored) return tl::unexpected(stored.error());
    job.forms.gzip = std::move(*stored);
  }
  return {};
}

// Runs every job, largest first, compressing on `threads` threads at a time; the first failure
// stops the rest.
Result<void> runJobs(ObjectStore& objects, const LocalContent* local,
                     const PrecompressOptions& options, std::vector<Job>& jobs,
                     const PrecompressProgress& progress) {
  std::uint64_t total_bytes = 0;
  for (const auto& job : jobs) total_bytes += job.size;
  unsigned cpu_threads =
      options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  cpu_threads = std::max(cpu_threads, 1U);
  unsigned threads =
      std::clamp<unsigned>(std::max(cpu_threads, options.store_threads), 1,
                           static_cast<unsigned>(std::max<std::size_t>(jobs.size(), 1)));

  std::counting_semaphore<> cpu(static_cast<std::ptrdiff_t>(cpu_threads));
  MemoryGate gate(options.max_in_flight);
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> bytes_done{0}, files_done{0};
  std::mutex error_mutex, progress_mutex;
  std::optional<Error> error;
  std::atomic<bool> failed{false};

  auto work = [&] {
    while (!failed) {
      std::size_t i = next.fetch_add(1);
      if (i >= jobs.size()) return;
      auto& job = jobs[i];
      gate.acquire(job.size);
      auto done = compress(objects, local, options, cpu, job);
      gate.release(job.size);
      if (!done) {
        std::lock_guard lock(error_mutex);
        if (!error) {
          error = done.error();
          error->message = fmt::format("precompressing {}: {}", job.path, error->message);
        }
        failed = true;
        return;
      }
      auto b = bytes_done.fetch_add(job.size) + job.size;
      auto f = files_done.fetch_add(1) + 1;
      if (!progress) continue;
      std::unique_lock lock(progress_mutex, std::try_to_lock);
      if (lock.owns_lock()) progress(b, total_bytes, f, jobs.size());
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  }
  if (error) return tl::unexpected(*error);
  return {};
}

}  // namespace

bool isPrecompressCandidate(std::uint64_t size, std::string_view media_type,
                            const PrecompressOptions& options) {
  return size > options.min_size && isCompressibleMediaType(media_type);
}

bool isCompressibleMediaType(std::string_view media_type) {
  auto type = baseType(media_type);
  if (type.starts_with("text/")) return true;
  // Structured syntaxes: application/ld+json, application/rss+xml, image/svg+xml, ...
  if (endsWith(type, "+json") || endsWith(type, "+xml")) return true;
  static constexpr std::array<std::string_view, 10> kTypes{
      "application/javascript",
      "application/json",
      "application/wasm",
      "application/xml",
      "application/vnd.ms-fontobject",  // EOT: usually uncompressed
      "font/otf",
      "font/ttf",
      "image/bmp",
      "image/x-icon",  // mostly bitmaps
      "image/vnd.microsoft.icon",
  };
  return std::find(kTypes.begin(), kTypes.end(), type) != kTypes.end();
}

Result<PrecompressReport> precompress(ObjectStore& objects, CompressCache* cache,
                                      std::map<std::string, FileEntry>& files,
                                      const PrecompressOptions& options,
                                      const PrecompressProgress& progress,
                                      const LocalContent* local) {
  PrecompressReport report;

  // Distinct contents: a file stored under several paths is compressed once.
  std::vector<Job> jobs;
  std::unordered_map<std::string, std::size_t> by_hash;
  std::vector<std::pair<FileEntry*, std::size_t>> targets;
  for (auto& [path, entry] : files) {
    if (!isPrecompressCandidate(entry.size, entry.media_type, options)) continue;
    ++report.candidates;
    auto [it, added] = by_hash.try_emplace(entry.hash, jobs.size());
    if (added) {
      jobs.push_back(Job{entry.hash, entry.size, path, entry.media_type, {}, 0, false, false});
    }
    targets.emplace_back(&entry, it->second);
  }

  // Cached forms count only while the store still holds them.
  std::vector<char> hit(jobs.size(), 0);
  if (cache != nullptr) {
    std::vector<std::string> cached_blobs;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      auto forms = cache->lookup(jobs[i].hash, cacheSettings(options, jobs[i].size));
      if (!forms) continue;
      hit[i] = 1;
      jobs[i].forms = std::move(*forms);
      for (const auto* form : {&jobs[i].forms.br, &jobs[i].forms.gzip}) {
        if (form->present()) cached_blobs.push_back(form->hash);
      }
    }
    auto absent = objects.missing(cached_blobs);
    if (!absent) return tl::unexpected(absent.error());
    std::sort(absent->begin(), absent->end());
    auto gone = [&](const Encoded& form) {
      return form.present() && std::binary_search(absent->begin(), absent->end(), form.hash);
    };
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (hit[i] != 0 && (gone(jobs[i].forms.br) || gone(jobs[i].forms.gzip))) {
        hit[i] = 0;
        jobs[i].forms = {};
      }
    }
  }

  std::vector<std::size_t> todo_index;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (hit[i] != 0) {
      ++report.cached;
    } else {
      todo_index.push_back(i);
    }
  }
  // Largest first, so the threads finish together.
  std::sort(todo_index.begin(), todo_index.end(),
            [&](std::size_t a, std::size_t b) { return jobs[a].size > jobs[b].size; });
  std::vector<Job> todo;
  todo.reserve(todo_index.size());
  for (auto i : todo_index) todo.push_back(std::move(jobs[i]));

  if (auto ran = runJobs(objects, local, options, todo, progress); !ran)
    return tl::unexpected(ran.error());
  report.compressed = todo.size();

  bool stored = false;
  std::vector<CompressCache::Update> updates;
  for (std::size_t k = 0; k < todo.size(); ++k) {
    stored = stored || todo[k].stored;
    report.new_blobs += todo[k].new_blobs;
    if (todo[k].read_back) ++report.read_back;
    updates.push_back({todo[k].hash, cacheSettings(options, todo[k].size), todo[k].forms});
    jobs[todo_index[k]] = std::move(todo[k]);
  }
  if (stored) {
    if (auto flushed = objects.flush(); !flushed) return tl::unexpected(flushed.error());
  }
  if (cache != nullptr) {
    // Only a hint for the next deploy: failing to record it must not fail this one.
    (void)cache->record(updates);
  }

  for (auto [entry, index] : targets) {
    const auto& forms = jobs[index].forms;
    entry->br = forms.br;
    entry->gzip = forms.gzip;
    if (forms.br.present()) {
      ++report.br_files;
      report.br_bytes += forms.br.size;
    }
    if (forms.gzip.present()) {
      ++report.gzip_files;
      report.gzip_bytes += forms.gzip.size;
    }
    if (forms.br.present() || forms.gzip.present()) {
      ++report.files;
      report.bytes += entry->size;
    }
  }
  return report;
}

}  // namespace cutover
