#include "common/log.h"

#include <fmt/chrono.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

namespace cutover::log {
namespace {

std::atomic<bool> json_lines{false};
std::mutex capture_mutex;
std::vector<std::string>* captured = nullptr;  // under capture_mutex; set by a Capture

// debug … error are spdlog's debug … err, one above trace.
spdlog::level::level_enum spdlogLevel(Level level) {
  return static_cast<spdlog::level::level_enum>(static_cast<int>(level) + spdlog::level::debug);
}

// Not registered with spdlog, and never destroyed (threads may log at exit). The pattern is the
// message alone: plain lines are the message, JSON lines are built in write().
spdlog::logger& logger() {
  static auto* instance = [] {
    auto* l = new spdlog::logger("cutover", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *instance;
}

}  // namespace

void setLevel(Level level) { logger().set_level(spdlogLevel(level)); }

void setJson(bool json) { json_lines = json; }

void write(Level level, std::string_view message) {
  if (!logger().should_log(spdlogLevel(level))) return;
  {
    std::lock_guard lock(capture_mutex);
    if (captured != nullptr) captured->emplace_back(message);
  }
  if (!json_lines) return logger().log(spdlogLevel(level), message);
  static constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  nlohmann::json line = {{"time", fmt::format("{:%FT%TZ}", now)},
                         {"level", kNames[static_cast<int>(level)]},
                         {"message", message}};
  logger().log(spdlogLevel(level),
               line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Capture::Capture() {
  std::lock_guard lock(capture_mutex);
  captured = &messages_;
}

Capture::~Capture() {
  std::lock_guard lock(capture_mutex);
  captured = nullptr;
}

std::vector<std::string> Capture::messages() const {
  std::lock_guard lock(capture_mutex);
  return messages_;
}

}  // namespace cutover::log
