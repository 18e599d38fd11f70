#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "cutover/pipeline/source.h"

namespace cutover {

// A deploy read from a folder on disk. The whole tree is listed (and checked against the limits)
// before the first file is visited, so a bad folder fails before anything is uploaded. Files are
// visited sorted by path. A symlink is followed when it resolves to a file or folder inside the
// root; one that leads outside, dangles or loops fails the deploy, as does a socket, FIFO or
// device. The reader opens the file only when read, and fails (io) if it changed since listing.
class FolderSource final : public Source {
 public:
  // `root` must name an existing folder.
  [[nodiscard]] static Result<std::unique_ptr<FolderSource>> open(const std::filesystem::path& root,
                                                                  const SourceLimits& limits);

  [[nodiscard]] std::string describe() const override;
  [[nodiscard]] Result<void> forEach(
      const std::function<Result<void>(const SourceEntry&, EntryReader&)>& visit,
      const SourceProgress& progress = {}) override;  // the same default as Source's

 private:
  FolderSource(std::filesystem::path given, std::filesystem::path real_root, SourceLimits limits)
      : given_(std::move(given)), real_root_(std::move(real_root)), limits_(limits) {}

  std::filesystem::path given_;      // as the user named it, for describe()
  std::filesystem::path real_root_;  // with every symlink resolved, for the "inside?" check
  SourceLimits limits_;
};

}  // namespace cutover
