#include "pipeline/build/build_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <ctime>

namespace cutover::build {
namespace {

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms);
}

}  // namespace

Result<std::unique_ptr<BuildLog>> BuildLog::open(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec)
    return fail(Errc::io, "cannot create " + file.parent_path().string() + ": " + ec.message());
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return failErrno("cannot open log " + file.string(), errno);
  return std::unique_ptr<BuildLog>(new BuildLog(file, UniqueFd(fd)));
}

void BuildLog::output(bool is_stderr, std::string_view text) {
  write(is_stderr ? "stderr " : "stdout ", text);
  std::lock_guard lock(mutex_);
  tail_.emplace_back(text);
  if (tail_.size() > 50) tail_.pop_front();
}

void BuildLog::write(std::string_view source, std::string_view text) {
  // One write per line, O_APPEND: a reader never sees half a line from two writers interleaved.
  std::string line = fmt::format("{} {} {}\n", timestamp(), source, text);
  std::lock_guard lock(mutex_);
  // A log that cannot be written must not fail the deploy; the history still has the outcome.
  (void)!::write(fd_.get(), line.data(), line.size());
}

std::string BuildLog::tail(std::size_t n) const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto start = tail_.size() > n ? tail_.size() - n : 0;
  for (auto i = start; i < tail_.size(); ++i) {
    out += "  | ";
    out += tail_[i];
    out += '\n';
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace cutover::build
