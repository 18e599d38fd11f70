#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>

#include "cutover/pipeline/source.h"
#include "pipeline/source/archive_source.h"
#include "pipeline/source/folder_source.h"

namespace cutover {

Result<std::unique_ptr<Source>> openSource(const std::filesystem::path& path,
                                           const SourceLimits& limits) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return fail(Errc::not_found, fmt::format("'{}' does not exist", path.string()));
    }
    return failErrno(fmt::format("cannot open '{}'", path.string()), err);
  }
  if (S_ISDIR(st.st_mode)) {
    auto folder = FolderSource::open(path, limits);
    if (!folder) return tl::unexpected(folder.error());
    return std::unique_ptr<Source>(std::move(*folder));
  }
  if (S_ISREG(st.st_mode)) {
    auto archive = ArchiveSource::open(path, limits);
    if (!archive) return tl::unexpected(archive.error());
    return std::unique_ptr<Source>(std::move(*archive));
  }
  return fail(Errc::invalid_argument,
              fmt::format("'{}' is neither a folder nor an archive file", path.string()));
}

}  // namespace cutover
