#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/store/manifest.h"

namespace cutover {

namespace sqlite {
class CacheTable;
}

// The precompressed forms made for one content hash. Either may be absent: the form was not
// smaller, or the content did not compress at all.
struct CompressedForms {
  Encoded br;
  Encoded gzip;

  bool operator==(const CompressedForms&) const = default;
};

// Remembers the precompressed forms of content by its hash and the settings that made them, so
// a deploy compresses only content it has not compressed before. A hit is only a hint: the
// caller checks that the forms' blobs are still stored (gc may have removed them).
class CompressCache {
 public:
  [[nodiscard]] static Result<std::unique_ptr<CompressCache>> open(
      const std::filesystem::path& file);
  ~CompressCache();
  CompressCache(const CompressCache&) = delete;
  CompressCache& operator=(const CompressCache&) = delete;

  // The forms recorded for `hash` made with `settings` (any string naming the levels and
  // rules used). Thread-safe.
  [[nodiscard]] std::optional<CompressedForms> lookup(std::string_view hash,
                                                      std::string_view settings);

  struct Update {
    std::string hash;
    std::string settings;
    CompressedForms forms;
  };
  // Records many entries in one transaction, replacing what was recorded for the same key.
  [[nodiscard]] Result<void> record(const std::vector<Update>& updates);

 private:
  explicit CompressCache(std::unique_ptr<sqlite::CacheTable> table);
  std::unique_ptr<sqlite::CacheTable> table_;
};

}  // namespace cutover
