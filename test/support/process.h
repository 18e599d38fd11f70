#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cutover::testing {

// The cutover binary under test: $CUTOVER_BIN (set by CTest), else "cutover" on PATH.
std::string cutoverBinary();

struct RunResult {
  int exit_code = -1;  // -signal if killed by a signal
  std::string out;
  std::string err;
};

// Runs `cutover args...` to completion, capturing stdout and stderr.
RunResult runCutover(const std::vector<std::string>& args);

// Where and with what the child runs, besides the test's own environment.
struct RunOptions {
  std::filesystem::path cwd;                             // empty: the test's
  std::vector<std::pair<std::string, std::string>> env;  // set (an empty value unsets)
};
RunResult runCutover(const std::vector<std::string>& args, const RunOptions& options);

// A `cutover serve` (or any long-running cutover command) in the background. The destructor
// sends SIGTERM and reaps it (SIGKILL after 5 s).
class ServerProcess {
 public:
  // Starts `cutover <args>` and waits until it prints "<ready>HOST:PORT" (the edge's
  // "serving on http://HOST:PORT"; `cutover pipeline`'s API prints "api on http://HOST:PORT").
  explicit ServerProcess(const std::vector<std::string>& args,
                         const std::string& ready = "serving on http://");
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // Waits up to 20 s for a line "<marker>HOST:PORT" on stderr (e.g. "api on http://") and
  // returns the port; throws std::runtime_error if none comes.
  std::uint16_t waitForPort(const std::string& marker);
  // Sends SIGTERM and waits; returns the exit code.
  int stop();
  // What the process wrote to stderr so far.
  std::string errors();

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string err_;
  std::uint16_t port_ = 0;
};

// A process started in the background with its stdout discarded and its stderr appended to
// `stderr_file` (empty: discarded too), so a test that fails can show what it said; for killing
// mid-way.
pid_t spawnCutover(const std::vector<std::string>& args,
                   const std::filesystem::path& stderr_file = {});

// Sets environment variables for the processes started while it lives (a child inherits the
// environment at fork), and puts the old values back when it goes. Set only while no other
// thread of the test runs.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::string>> values);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

}  // namespace cutover::testing
