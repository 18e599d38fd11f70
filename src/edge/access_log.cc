#include "edge/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "common/log.h"
#include "edge/reply.h"

namespace cutover::edge {
namespace {

// "[27/Nov/2026:22:32:25 +0000]", formatted once a second per thread.
std::string_view logTimeNow() {
  thread_local SecondClock clock;
  return utcNow("[%d/%b/%Y:%H:%M:%S +0000]", clock);
}

void appendEscaped(std::string& out, std::string_view text) {
  if (text.empty()) {
    out.push_back('-');
    return;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
      out.append("\\x");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
}

void appendNumber(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), n);
  out.append(digits, end);
}

}  // namespace

void appendCombinedLine(std::string& out, const LoggedRequest& r) {
  out.append(r.remote.empty() ? std::string_view("-") : r.remote);
  out.append(" - - ");
  out.append(logTimeNow());
  out.append(" \"");
  appendEscaped(out, r.method);
  out.push_back(' ');
  appendEscaped(out, r.target);
  out.append(r.http10 ? " HTTP/1.0\" " : " HTTP/1.1\" ");
  appendNumber(out, static_cast<std::uint64_t>(r.status));
  out.push_back(' ');
  if (r.body_bytes == 0) {
    out.push_back('-');
  } else {
    appendNumber(out, r.body_bytes);
  }
  out.append(" \"");
  appendEscaped(out, r.referer);
  out.append("\" \"");
  appendEscaped(out, r.user_agent);
  out.append("\"\n");
}

void appendVhostLine(std::string& out, const LoggedRequest& r) {
  appendCombinedLine(out, r);
  out.pop_back();  // the newline
  out.append(" \"");
  appendEscaped(out, r.host);
  out.append("\" ");
  appendEscaped(out, r.site);
  out.push_back(' ');
  appendEscaped(out, r.version);
  out.push_back('\n');
}

std::optional<AccessLogFormat> parseAccessLogFormat(std::string_view name) {
  if (name == "vhost") return AccessLogFormat::vhost;
  if (name == "combined") return AccessLogFormat::combined;
  return std::nullopt;
}

void AccessLogFile::append(std::string& out, const LoggedRequest& request) const {
  if (format_ == AccessLogFormat::combined) {
    appendCombinedLine(out, request);
  } else {
    appendVhostLine(out, request);
  }
}

Result<std::unique_ptr<AccessLogFile>> AccessLogFile::open(const std::string& where,
                                                           AccessLogFormat format) {
  int fd = where == "-" ? ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0)
                        : ::open(where.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return failErrno("cannot open the access log " + where, errno);
  return std::make_unique<AccessLogFile>(UniqueFd(fd), format);
}

void AccessLogFile::write(std::string& lines) {
  std::size_t at = 0;
  while (at < lines.size() && !failed_.load(std::memory_order_relaxed)) {
    ssize_t n = ::write(fd_.get(), lines.data() + at, lines.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!failed_.exchange(true)) {
        log::error("cutover edge: cannot write the access log ({}); lines are dropped",
                   n < 0 ? std::strerror(errno) : "no progress");
      }
      break;
    }
    at += static_cast<std::size_t>(n);
  }
  lines.clear();
}

}  // namespace cutover::edge
