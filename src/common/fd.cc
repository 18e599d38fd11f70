#include "cutover/common/fd.h"

#include <cerrno>
#include <string>

namespace cutover {

Result<void> writeAll(int fd, const void* data, std::size_t size, std::string_view what) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, bytes, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failErrno(std::string(what), errno);
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace cutover
