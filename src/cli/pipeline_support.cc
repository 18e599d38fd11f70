#include "cli/pipeline_support.h"

#include <cstdio>
#include <fstream>
#include <thread>

#include "cli/output.h"
#include "cutover/common/config_error.h"
#include "runs/workers.h"

namespace cutover::cli {
namespace {

// Prints what was appended to a log file since the last call, whole lines only.
class LogTail {
 public:
  explicit LogTail(std::filesystem::path file) : file_(std::move(file)) {}
  void print(bool final) {
    std::ifstream in(file_, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto end = chunk.rfind('\n');
    if (end == std::string::npos) {
      if (!final || chunk.empty()) return;
      end = chunk.size() - 1;
    }
    std::fwrite(chunk.data(), 1, end + 1, stdout);
    if (chunk[end] != '\n') std::fputc('\n', stdout);
    offset_ += end + 1;
    std::fflush(stdout);
  }

 private:
  std::filesystem::path file_;
  std::size_t offset_ = 0;
};

std::optional<std::int64_t> markAt(const DeployRecord& r, std::string_view name) {
  for (const auto& m : r.timeline) {
    if (m.name == name) return m.at_ms;
  }
  return std::nullopt;
}

}  // namespace

Config loadConfigOrExit(const std::string& file) {
  auto config = loadConfig(file);
  if (!config) throw ConfigError(config.error().message);
  return std::move(*config);
}

std::filesystem::path resolveDataDir(const GlobalOptions& global, const Config* config) {
  if (!global.data_dir_set && config != nullptr && !config->data_dir.empty())
    return config->data_dir;
  return global.data_dir;
}

std::string stageSpan(const DeployRecord& record, std::string_view from, std::string_view to) {
  auto a = markAt(record, from), b = markAt(record, to);
  if (!a || !b) return {};
  return formatMillis(static_cast<double>(*b - *a));
}

Followed followDeploy(History& history, const std::filesystem::path& data_dir, std::string id,
                      const FollowOptions& options) {
  Followed out;
  auto started = std::chrono::steady_clock::now();
  std::string printed_stage;
  std::optional<LogTail> tail;
  while (true) {
    if (options.tick && !options.tick()) {
      out.timed_out = true;
      return out;
    }
    auto found = history.find(id);
    if (!found || !*found) return out;
    out.record = **found;
    const auto& r = *out.record;
    if (options.print_log) {
      if (!tail)
        tail.emplace(r.log.empty() ? deployLogPath(data_dir, id) : std::filesystem::path(r.log));
      tail->print(r.finishedOutcome());
    } else if (r.stage != printed_stage && !r.stage.empty() && r.stage != toString(Mark::queued)) {
      std::printf("cutover: %s\n", r.stage.c_str());
      std::fflush(stdout);
    }
    printed_stage = r.stage;
    if (r.is(DeployStatus::superseded)) {
      auto at = r.error.find("superseded by ");
      if (at != std::string::npos) {
        auto next = r.error.substr(at + 14, r.error.find(',', at) - at - 14);
        std::printf("cutover: deploy %s was superseded by %s, a newer request; following it\n",
                    id.c_str(), next.c_str());
        std::fflush(stdout);
        id = next;
        tail.reset();
        continue;
      }
    }
    if (r.finishedOutcome()) return out;
    if (options.timeout && std::chrono::steady_clock::now() - started > *options.timeout) {
      out.timed_out = true;
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace cutover::cli
