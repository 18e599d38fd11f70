#pragma once

#include <atomic>
#include <bitset>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "cutover/store/object_store.h"

namespace cutover {

// An ObjectStore in one folder on local disk, shared safely by the threads and processes that
// open the same folder:
//
//   <root>/blobs/<first 2 hex>/<hash>         read-only files, named by SHA-256
//   <root>/manifests/<site>/<version>.json    one per committed version
//   <root>/tmp/                               in-flight writes (named only without O_TMPFILE:
//                                             <kind>-<pid>-<random>.tmp)
//
// A write goes to an unnamed O_TMPFILE (or a named temp file in tmp/ where the file system
// lacks O_TMPFILE), is fdatasync'ed, then made visible with link(), which never replaces a
// name: EEXIST means another writer stored the same content first. The directories that got
// new names are fsync'ed once per flush(), not once per blob.
class LocalObjectStore final : public ObjectStore {
 public:
  struct Options {
    // Use O_TMPFILE when the file system supports it. False forces named temp files in tmp/
    // (the fallback path, so that tests can cover it on any file system).
    bool use_o_tmpfile = true;
  };

  // Opens the store under `root`, creating the folders it needs. io if it cannot. Removes the
  // named temp files in tmp/ that writers which died mid-write left: those whose process is
  // gone, and those untouched for a minute (no process in the name) or an hour.
  [[nodiscard]] static Result<std::unique_ptr<LocalObjectStore>> open(
      const std::filesystem::path& root, Options options);
  [[nodiscard]] static Result<std::unique_ptr<LocalObjectStore>> open(
      const std::filesystem::path& root) {
    return open(root, Options{});
  }

  LocalObjectStore(const LocalObjectStore&) = delete;
  LocalObjectStore& operator=(const LocalObjectStore&) = delete;
  ~LocalObjectStore() override;

  // Writers hold a reference to the store: finish or drop them before the store goes.
  Result<std::unique_ptr<BlobWriter>> newBlob() override;
  Result<void> flush() override;
  Result<std::vector<std::string>> missing(std::span<const std::string> hashes) override;
  Result<BlobHandle> openBlob(const std::string& hash) override;
  Result<std::string> readBlob(const std::string& hash) override;
  Result<void> commitManifest(const Manifest& manifest) override;
  Result<Manifest> readManifest(const std::string& site, const std::string& version) override;
  Result<std::vector<VersionInfo>> listVersions(const std::string& site) override;
  Result<std::vector<std::string>> listSites() override;
  Result<std::vector<std::string>> listBlobs() override;
  Result<void> deleteManifest(const std::string& site, const std::string& version) override;
  Result<void> deleteBlob(const std::string& hash) override;
  Result<std::size_t> removeLeftovers() override;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }
  // False when writes fall back to named temp files in tmp/.
  [[nodiscard]] bool usesOTmpfile() const { return use_o_tmpfile_.load(); }

 private:
  friend class LocalBlobWriter;

  // A file being written: unnamed (O_TMPFILE) when `name` is empty, else tmp/<name>.
  struct TempFile {
    UniqueFd fd;
    std::string name;
  };

  LocalObjectStore(std::filesystem::path root, UniqueFd root_fd, UniqueFd blobs, UniqueFd manifests,
                   UniqueFd tmp, bool use_o_tmpfile);

  [[nodiscard]] Result<TempFile> createTemp(std::string_view kind);
  // Links the temp file as dir_fd/path without replacing anything: 0 or an errno value.
  int linkTemp(const TempFile& temp, int dir_fd, const std::string& path);
  // Removes a named temp file; the fd is closed too. Safe to call twice.
  void discardTemp(TempFile& temp);
  // Publishes a finished, synced blob: true if this call stored it, false if it was there.
  [[nodiscard]] Result<bool> publishBlob(TempFile& temp, const std::string& hash);
  void markDirty(std::size_t shard);

  std::filesystem::path root_;
  UniqueFd root_fd_;
  UniqueFd blobs_fd_;
  UniqueFd manifests_fd_;
  UniqueFd tmp_fd_;
  std::atomic<bool> use_o_tmpfile_;

  std::mutex dirty_mutex_;  // guards dirty_; never held across I/O
  std::bitset<256> dirty_;  // shard directories with names not yet fsync'ed
  std::mutex flush_mutex_;  // serialises flush() so a flush never returns early
};

}  // namespace cutover
