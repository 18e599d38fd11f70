#include "pipeline/build/build_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>

#include "cutover/common/ascii.h"

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

constexpr std::size_t kTailLines = 50;
constexpr std::size_t kErrorLines = 6;
constexpr std::size_t kLastLines = 6;

bool containsWord(std::string_view text, std::string_view lower_word) {
  auto it = std::search(text.begin(), text.end(), lower_word.begin(), lower_word.end(),
                        [](char a, char b) { return toLowerAscii(a) == b; });
  return it != text.end();
}

// A line that says something went wrong, in the words of the tools builds run (npm ERR!,
// "error TS2304", "Error: Cannot find module", "Build failed", "fatal:", "not found").
bool looksLikeError(std::string_view text) {
  text = text.substr(0, 200);  // a line that says what failed says it early; a 16 KiB one is data
  for (std::string_view word : {"error", "fatal", "failed", "cannot ", "not found", "exception"}) {
    if (containsWord(text, word)) return true;
  }
  return false;
}

// A line of a summary: at most 300 bytes, cut on a UTF-8 character boundary.
std::string clipLine(std::string_view text) {
  constexpr std::size_t kMax = 300;
  if (text.size() <= kMax) return std::string(text);
  std::size_t end = kMax;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + " …";
}

// Lines that carry nothing for a summary: blank ones and stack frames ("    at f (file:1:2)").
bool isNoise(std::string_view text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return true;
  auto rest = text.substr(first);
  return first > 0 && (rest.starts_with("at ") || rest.starts_with("File \""));
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
  bool write_it = false, cut_now = false;
  {
    std::lock_guard lock(mutex_);
    ++lines_;
    tail_.emplace_back(lines_, text);
    if (tail_.size() > kTailLines) tail_.pop_front();
    if (errors_.size() < kErrorLines && looksLikeError(text)) errors_.emplace_back(lines_, text);
    if (!cut_) {
      if (written_ + text.size() + 40 <= limit_) {
        written_ += text.size() + 40;  // the timestamp and source
        write_it = true;
      } else {
        cut_ = cut_now = true;
      }
    }
  }
  if (write_it) write(is_stderr ? "stderr " : "stdout ", text);
  if (cut_now) {
    note(
        fmt::format("the log was cut at {} MiB: the build printed more than that (its last lines "
                    "are in the deploy's error, if it fails)",
                    limit_ >> 20));
  }
}

std::string BuildLog::summary() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::uint64_t, std::string>> picked(errors_.begin(), errors_.end());
  std::vector<std::pair<std::uint64_t, std::string>> last;
  for (auto it = tail_.rbegin(); it != tail_.rend() && last.size() < kLastLines; ++it) {
    if (isNoise(it->second)) continue;
    bool seen = false;
    for (const auto& p : picked) seen = seen || p.first == it->first;
    if (!seen) last.push_back(*it);
  }
  picked.insert(picked.end(), last.rbegin(), last.rend());
  std::sort(picked.begin(), picked.end());
  std::string out;
  std::uint64_t previous = 0;
  for (const auto& [number, text] : picked) {
    if (number > previous + 1) out += "  | …\n";
    out += "  | ";
    out += clipLine(text);
    out += '\n';
    previous = number;
  }
  if (!picked.empty() && previous < lines_) out += "  | …\n";
  if (!out.empty()) out.pop_back();
  return out;
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
    out += tail_[i].second;
    out += '\n';
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace cutover::build
