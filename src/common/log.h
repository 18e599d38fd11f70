#pragma once

// cutover's log: what the servers and background work say to the operator, on stderr. Plain
// lines by default (exactly the message: "cutover edge: …", "api on http://…"), or one JSON
// object a line ({"time", "level", "message"}) with setJson(true). spdlog writes them; it stays
// in log.cc.

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cutover::log {

enum class Level { debug, info, warn, error };

void setLevel(Level level);  // messages below it are dropped; info by default
void setJson(bool json);

void write(Level level, std::string_view message);

template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::warn, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}

// For tests: while one is alive, it keeps every message written (as plain text), besides
// stderr. One at a time.
class Capture {
 public:
  Capture();
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  [[nodiscard]] std::vector<std::string> messages() const;

 private:
  std::vector<std::string> messages_;
};

}  // namespace cutover::log
