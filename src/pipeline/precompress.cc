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
// Only for the probe: a bounded slice of the file.
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

// How much of a file is read, compressed and written at a time: a file of any size is
// compressed through buffers of about this size, never held whole.
constexpr std::size_t kChunk = std::size_t{256} * 1024;

struct Job;

// One form being made: the encoder's output is held in memory up to kHeldForm bytes, then goes
// to a blob writer as it comes, and the form is dropped (the writer discarded) as soon as it is
// larger than the file could gain from. A small form that is not worth keeping never reaches
// the store.
constexpr std::size_t kHeldForm = std::size_t{1} << 20;

class FormSink {
 public:
  FormSink(ObjectStore& objects, std::uint64_t give_up_at)
      : objects_(objects), give_up_at_(give_up_at) {}

  [[nodiscard]] bool alive() const { return !dropped_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  void drop() {
    dropped_ = true;
    writer_.reset();
    std::string().swap(held_);
  }

  Result<void> write(const std::uint8_t* data, std::size_t n) {
    if (dropped_ || n == 0) return {};
    size_ += n;
    if (size_ > give_up_at_) {
      drop();
      return {};
    }
    if (!writer_ && held_.size() + n <= kHeldForm) {
      held_.append(reinterpret_cast<const char*>(data), n);
      return {};
    }
    if (auto opened = openWriter(); !opened) return opened;
    return writer_->write(std::as_bytes(std::span(data, n)));
  }

  // Stores the form; nothing if it was dropped or not worth keeping against `original` bytes.
  Result<std::optional<Encoded>> finish(std::uint64_t original, Job& job);

 private:
  // Starts the blob and writes what was held so far.
  Result<void> openWriter() {
    if (writer_) return {};
    auto writer = objects_.newBlob();
    if (!writer) return tl::unexpected(writer.error());
    writer_ = std::move(*writer);
    auto written = writer_->write(std::as_bytes(std::span(held_.data(), held_.size())));
    std::string().swap(held_);
    return written;
  }

  ObjectStore& objects_;
  std::uint64_t give_up_at_;
  std::unique_ptr<BlobWriter> writer_;
  std::string held_;
  std::uint64_t size_ = 0;
  bool dropped_ = false;
};

// A brotli stream (RFC 7932) fed a chunk at a time.
class BrotliStream {
 public:
  BrotliStream(int quality, std::uint64_t size, BrotliEncoderMode mode)
      : state_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (state_ == nullptr) return;
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(quality));
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN,
                              static_cast<std::uint32_t>(brotliWindow(size)));
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_MODE, static_cast<std::uint32_t>(mode));
    BrotliEncoderSetParameter(
        state_, BROTLI_PARAM_SIZE_HINT,
        static_cast<std::uint32_t>(std::min<std::uint64_t>(size, std::uint64_t{1} << 30)));
  }
  ~BrotliStream() {
    if (state_ != nullptr) BrotliEncoderDestroyInstance(state_);
  }
  BrotliStream(const BrotliStream&) = delete;
  BrotliStream& operator=(const BrotliStream&) = delete;

  // Compresses `input` (the last chunk when `last`) into `sink`; false if the encoder failed.
  Result<bool> feed(std::string_view input, bool last, FormSink& sink) {
    if (state_ == nullptr) return false;
    std::size_t avail_in = input.size();
    const std::uint8_t* next_in = bytesOf(input);
    auto op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
    while (sink.alive()) {
      std::size_t avail_out = 0;
      if (BrotliEncoderCompressStream(state_, op, &avail_in, &next_in, &avail_out, nullptr,
                                      nullptr) != BROTLI_TRUE) {
        return false;
      }
      while (BrotliEncoderHasMoreOutput(state_) == BROTLI_TRUE && sink.alive()) {
        std::size_t n = 0;
        const std::uint8_t* out = BrotliEncoderTakeOutput(state_, &n);
        if (auto w = sink.write(out, n); !w) return tl::unexpected(w.error());
      }
      if (last ? BrotliEncoderIsFinished(state_) == BROTLI_TRUE : avail_in == 0) break;
    }
    return true;
  }

 private:
  BrotliEncoderState* state_;
};

// A gzip file (RFC 1952, what `gzip -d` reads) fed a chunk at a time.
class GzipStream {
 public:
  explicit GzipStream(int level) {
    // 15 window bits, +16: a gzip header and trailer instead of zlib's.
    ok_ = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipStream() {
    if (ok_) deflateEnd(&z_);
  }
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  Result<bool> feed(std::string_view input, bool last, FormSink& sink) {
    if (!ok_) return false;
    z_.next_in = const_cast<Bytef*>(bytesOf(input));
    z_.avail_in = static_cast<uInt>(input.size());  // input is one chunk: well under 4 GiB
    std::array<Bytef, 64 * 1024> out{};
    int rc = Z_OK;
    do {
      z_.next_out = out.data();
      z_.avail_out = static_cast<uInt>(out.size());
      rc = deflate(&z_, last ? Z_FINISH : Z_NO_FLUSH);
      if (rc == Z_STREAM_ERROR) return false;
      if (auto w = sink.write(out.data(), out.size() - z_.avail_out); !w) {
        return tl::unexpected(w.error());
      }
    } while (sink.alive() && (z_.avail_out == 0 || (last && rc != Z_STREAM_END)));
    return true;
  }

 private:
  z_stream z_{};
  bool ok_ = false;
};

// One distinct content to compress, with the first path that has it (for messages).
struct Job {
  std::string hash;
  std::uint64_t size = 0;
  std::string path;
  std::string media_type;
  CompressedForms forms;
  std::uint64_t new_blobs = 0;
  bool stored = false;              // a form was written to the store (it then needs a flush)
  bool read_back = false;           // the content was read from the store: no local copy
  CreatedBlobs* created = nullptr;  // where new forms are noted
};

std::string cacheSettings(const PrecompressOptions& options, std::uint64_t size) {
  return fmt::format("br{}-gzip{}-{}", brotliQuality(size, options), options.gzip_level,
                     kRulesVersion);
}

Result<std::optional<Encoded>> FormSink::finish(std::uint64_t original, Job& job) {
  if (dropped_ || size_ == 0 || !worthKeeping(size_, original)) return std::nullopt;
  job.stored = true;
  if (auto opened = openWriter(); !opened) return tl::unexpected(opened.error());
  auto stored = writer_->finish();
  writer_.reset();
  if (!stored) return tl::unexpected(stored.error());
  if (stored->created) {
    ++job.new_blobs;
    if (job.created != nullptr) job.created->add(stored->hash);
  }
  return Encoded{stored->hash, size_};
}

// Where the content to compress is read from, a chunk at a time.
class ContentStream {
 public:
  // Held in memory (an archive's small entries).
  explicit ContentStream(std::string_view held) : held_(held) {}
  // An open file, read from its start.
  explicit ContentStream(UniqueFd fd) : fd_(std::move(fd)) {}

  // The next chunk into `buffer`; empty at the end.
  Result<std::string_view> next(std::string& buffer) {
    if (!fd_.valid()) {
      auto chunk = held_.substr(0, kChunk);
      held_.remove_prefix(chunk.size());
      return chunk;
    }
    buffer.resize(kChunk);
    std::size_t done = 0;
    while (done < buffer.size()) {
      ssize_t n = ::read(fd_.get(), buffer.data() + done, buffer.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failErrno("read", errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return std::string_view(buffer.data(), done);
  }

 private:
  std::string_view held_;
  UniqueFd fd_;
};

// The forms of one content, made in one pass over it.
struct Made {
  std::optional<Encoded> br, gzip;
  bool content_ok = true;  // false: the content did not have the job's size and hash
};

// Streams `input` through the probe, brotli and gzip into new blobs, hashing it when `verify`.
// Memory stays a few buffers and the two encoders' state, whatever the file's size.
Result<Made> makeForms(ObjectStore& objects, ContentStream& input, bool verify, Job& job,
                       const PrecompressOptions& options) {
  Made made;
  auto mode = brotliMode(job.media_type);
  std::string buffer;
  auto first = input.next(buffer);
  if (!first) return tl::unexpected(first.error());
  std::string chunk(*first);  // owned: `buffer` is reused for the next read

  // The probe looks at the start only; a file that does not compress there gets no forms, and
  // nothing more of it is read.
  auto probe_input = std::string_view(chunk).substr(0, kProbeBytes);
  auto probe = brotli(probe_input, kProbeQuality, mode);
  if (!probe || !worthKeeping(probe->size(), probe_input.size())) {
    if (!verify) return made;
    // Still read to the end: a local copy that changed must not pass for the content.
  }
  bool compressing = probe && worthKeeping(probe->size(), probe_input.size());

  FormSink br_sink(objects, job.size), gzip_sink(objects, job.size);
  BrotliStream br(brotliQuality(job.size, options), job.size, mode);
  GzipStream gz(options.gzip_level);
  if (!compressing) {
    br_sink.drop();
    gzip_sink.drop();
  }
  Sha256 hasher;
  std::uint64_t seen = 0;
  while (true) {
    auto following = input.next(buffer);
    if (!following) return tl::unexpected(following.error());
    bool last = following->empty();
    seen += chunk.size();
    if (seen > job.size) {  // a local copy that grew: not the content
      made.content_ok = false;
      return made;
    }
    if (verify) hasher.update(chunk);
    if (br_sink.alive()) {
      auto fed = br.feed(chunk, last, br_sink);
      if (!fed) return tl::unexpected(fed.error());
      if (!*fed) br_sink.drop();
    }
    if (gzip_sink.alive()) {
      auto fed = gz.feed(chunk, last, gzip_sink);
      if (!fed) return tl::unexpected(fed.error());
      if (!*fed) gzip_sink.drop();
    }
    if (last) break;
    if (!verify && !br_sink.alive() && !gzip_sink.alive()) return made;
    chunk.assign(*following);
  }
  if (seen != job.size || (verify && hasher.finishHex() != job.hash)) {
    made.content_ok = false;
    return made;
  }
  auto br_form = br_sink.finish(job.size, job);
  if (!br_form) return tl::unexpected(br_form.error());
  made.br = *br_form;
  auto gzip_form = gzip_sink.finish(job.size, job);
  if (!gzip_form) return tl::unexpected(gzip_form.error());
  made.gzip = *gzip_form;
  return made;
}

// Compresses from the local copy when there is one that still has the content, else from the
// store. The forms are stored as they are made.
// Opening the content waits on the store (tens of milliseconds a request on S3), so more jobs
// than cores are in progress at once; the compressing itself, which holds the encoders' memory,
// is bounded to options.threads by `cpu`.
Result<Made> compress(ObjectStore& objects, const LocalContent* local,
                      const PrecompressOptions& options, std::counting_semaphore<>& cpu, Job& job) {
  auto run = [&](ContentStream& input, bool verify) {
    cpu.acquire();
    auto made = makeForms(objects, input, verify, job, options);
    cpu.release();
    return made;
  };
  if (local != nullptr) {
    if (auto held = local->bytes.find(job.hash); held != local->bytes.end()) {
      ContentStream input{std::string_view(held->second)};
      return run(input, false);
    }
    if (auto file = local->files.find(job.hash); file != local->files.end()) {
      UniqueFd fd(::open(file->second.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.valid()) {
        ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        ContentStream input{std::move(fd)};
        // A file changed since it was stored is only a missed shortcut: the store has it.
        auto made = run(input, true);
        if (!made || made->content_ok) return made;
      }
    }
  }
  auto blob = objects.openBlob(job.hash);
  if (!blob) return tl::unexpected(blob.error());
  job.read_back = true;
  ContentStream input{std::move(blob->fd)};
  auto made = run(input, false);
  if (made && !made->content_ok) {
    return fail(Errc::io, fmt::format("blob {} is not {} bytes long", job.hash, job.size));
  }
  return made;
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
      auto done = compress(objects, local, options, cpu, job);
      if (done) {
        if (done->br) job.forms.br = std::move(*done->br);
        if (done->gzip) job.forms.gzip = std::move(*done->gzip);
      }
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
                                      const LocalContent* local, CreatedBlobs* created) {
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
      jobs.back().created = created;
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
