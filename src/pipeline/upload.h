#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pipeline/precompress.h"
#include "cutover/store/manifest.h"
#include "pipeline/created_blobs.h"
#include "pipeline/store_lock.h"

namespace cutover {

// What the upload stage produced: every file's entry, what it cost, and where the content that
// precompression will want is at hand locally.
struct UploadResult {
  std::map<std::string, FileEntry> files;
  std::uint64_t new_files = 0, new_bytes = 0, bytes = 0;
  LocalContent local;
};

// Reads every file of `source` and stores the blobs `objects` lacks, then flushes them so they
// are durable. Folder files whose identity is in the stat cache are not read unless their blob
// is missing; other folder files are read once, straight into the store, on several threads.
// When options.precompress is set, the precompression candidates' local copies are noted: a
// folder's files by path, an archive's small entries by keeping their bytes (up to a bound).
// Every blob this call stores that the store lacked is noted in `created` as it is stored, so a
// deploy that fails later, or here, knows what it added.
[[nodiscard]] Result<UploadResult> uploadSource(const PipelineContext& context, Source& source,
                                                const DeployOptions& options,
                                                CreatedBlobs& created);

// A remote deploy's upload stage, on the server: the client lists its files with their hashes
// (RemoteFileList, then RemoteUpload::begin), sends the blobs the site lacks (accept), and
// finalizes (ready, finish). The API's routes speak HTTP and call these.

// The file list a remote deploy starts with, checked entry by entry as it is read. Errors are
// invalid_argument, or too_large for a limit, each naming the entry.
class RemoteFileList {
 public:
  // `count` entries are coming: none is refused, and more than limits.max_files.
  [[nodiscard]] static Result<RemoteFileList> expect(std::size_t count, const SourceLimits& limits,
                                                     std::uint64_t max_file_bytes);
  // One entry, as the client named it: `hash` must be a blob hash and `size` given; the path must
  // name a file of a site that no other entry names, and a hash keeps one size.
  [[nodiscard]] Result<void> add(const std::string& raw_path, std::string_view hash,
                                 std::optional<std::uint64_t> size);
  // Once every entry is added: refused if they hold more than limits.max_total_bytes.
  [[nodiscard]] Result<void> complete() const;

 private:
  friend class RemoteUpload;
  RemoteFileList(const SourceLimits& limits, std::uint64_t max_file_bytes)
      : limits_(limits), max_file_bytes_(max_file_bytes) {}
  SourceLimits limits_;
  std::uint64_t max_file_bytes_;
  std::uint64_t total_ = 0;
  std::map<std::string, FileEntry> files_;      // path → hash, size, media type
  std::map<std::string, std::uint64_t> blobs_;  // every distinct hash → its size
};

// Reads up to buffer.size() bytes of a blob being sent; 0 at its end.
using BlobBody = std::function<Result<std::size_t>(std::span<std::byte> buffer)>;

// A remote deploy between its start and its finish. Holds the store lock shared all along, so gc
// cannot collect a blob the deploy was told it need not upload. accept() may run on several
// threads at once; the rest run alone.
class RemoteUpload {
 public:
  // Takes the store lock, notes the live pointer, finds which of the blobs the site's own
  // versions hold (a held blob of another size is refused), and records the deploy as running.
  [[nodiscard]] static Result<std::unique_ptr<RemoteUpload>> begin(
      const PipelineContext& context, const std::string& site, std::string source, bool activate,
      std::int64_t preview_seconds, RemoteFileList files);
  // Sent: the blobs the site does not hold, which the client must send.
  [[nodiscard]] const std::vector<std::string>& missing() const { return missing_; }
  [[nodiscard]] const DeployRecord& record() const { return record_; }
  [[nodiscard]] std::size_t files() const { return files_.size(); }
  [[nodiscard]] std::size_t blobs() const { return blobs_.size(); }
  [[nodiscard]] std::uint64_t uploaded() const { return uploaded_.load(); }

  // Stores the bytes of one of the deploy's blobs, `declared_size` long if the client said so;
  // invalid_argument if it is not one, or the bytes are not its size and hash (nothing is then
  // stored). Its size and whether the store lacked it.
  struct Accepted {
    std::uint64_t size = 0;
    bool created = false;
  };
  [[nodiscard]] Result<Accepted> accept(ObjectStore& objects, const std::string& hash,
                                        std::optional<std::uint64_t> declared_size,
                                        const BlobBody& body);
  // Whether it can finish: every blob is stored, and is one the site holds (its size checked at
  // the start) or this deploy sent (its size and hash checked on upload); a hash merely stored, by
  // another site, gives nothing away and cannot be used with a false size. If not,
  // invalid_argument, `missing` naming them: the client may still send them and finish again.
  [[nodiscard]] Result<void> ready(ObjectStore& objects, std::vector<std::string>& missing);
  // Flushes the blobs, runs the pipeline's stages from the rules on (pipeline.cc), and records
  // the outcome. An error with the record succeeded is the history's: the deploy is done.
  [[nodiscard]] Result<DeployReport> finish(const PipelineContext& context);
  // Records the deploy as failed with `why` (it was dropped); the history's answer.
  [[nodiscard]] Result<void> abandon(History* history, const std::string& why);

 private:
  RemoteUpload(DeployRecord record, StoreLock lock)
      : record_(std::move(record)), lock_(std::move(lock)) {}

  DeployRecord record_;  // as begun in the history (status running)
  StoreLock lock_;
  bool activate_ = true;
  std::int64_t preview_seconds_ = kDefaultPreviewSeconds;
  std::optional<std::string> expected_pointer_;
  std::map<std::string, FileEntry> files_;
  std::map<std::string, std::uint64_t> blobs_;
  std::set<std::string> held_;  // the blobs the site's own versions hold: no upload needed
  std::vector<std::string> missing_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> uploaded_{0};  // blobs stored by this deploy's uploads
  std::atomic<std::uint64_t> uploaded_bytes_{0};
  std::mutex received_mutex_;
  std::set<std::string> received_;  // the blobs whose bytes this deploy sent
};

}  // namespace cutover
