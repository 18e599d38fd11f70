#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"

namespace cutover::build {

// What bounds a command besides its session and timeout: resource limits set before it starts
// and, when the pipeline runs as root, the unprivileged user it becomes.
struct Confinement {
  std::uint64_t memory = 0;     // RLIMIT_DATA of each process, bytes; 0: unchanged
  std::uint64_t processes = 0;  // RLIMIT_NPROC of its user; 0: unchanged
  std::uint64_t file_size = 0;  // RLIMIT_FSIZE, the largest file it may write; 0: unchanged
  // Switch to this uid and gid before the program starts (only for a root parent). The folders
  // it must reach are first bound, in a mount namespace of the child's own, under `stage` (a
  // tmpfs laid over that folder there): {source, NAME} appears as stage/NAME. So none of their
  // parents needs to be open to that user, and nothing changes outside the child.
  std::optional<std::pair<uid_t, gid_t>> user;
  std::filesystem::path stage;
  std::vector<std::pair<std::filesystem::path, std::string>> binds;
};

// One program run by the pipeline: a build command, or git.
struct Command {
  std::vector<std::string> argv;  // argv[0] is searched in the PATH of `env`
  std::filesystem::path cwd;
  std::vector<std::string> env;          // "NAME=value": the whole environment, nothing inherited
  std::chrono::milliseconds timeout{0};  // 0: none
  std::chrono::milliseconds kill_grace{3000};  // SIGTERM → SIGKILL
  Confinement confinement;
};

enum class Stream { out, err };

// Receives every line the command writes, without its newline, as it is written.
using LineSink = std::function<void(Stream, std::string_view line)>;

struct CommandResult {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  bool cancelled = false;  // the stop token asked for it to end
  double ms = 0;           // wall time, start to exit

  [[nodiscard]] bool ok() const { return exit_code == 0 && !timed_out && !cancelled; }
  // "exited with status 2", "was killed by signal 9", "timed out after 5 s (killed)".
  [[nodiscard]] std::string describe(std::chrono::milliseconds timeout) const;
};

// Runs `command` in its own session and process group (setsid), stdin from /dev/null, stdout and
// stderr read line by line into `sink`. At the timeout, or when `stop` is requested, the whole
// group gets SIGTERM, then SIGKILL after the grace. When the command itself exits, whatever it
// left running in its group (`sleep 1000 &`) is killed too: a finished build leaves nothing
// behind. Fails only if the command cannot be started (not_found if the program does not exist).
[[nodiscard]] Result<CommandResult> runCommand(const Command& command, const LineSink& sink,
                                               std::stop_token stop = {});

// The environment a build gets: PATH (this process's, or a default), HOME, LANG=C.UTF-8, and
// `extra` (which may override them). Nothing else of this process's environment is passed on,
// so no secret of the server's leaks into a build.
[[nodiscard]] std::vector<std::string> cleanEnvironment(
    const std::filesystem::path& home, const std::map<std::string, std::string>& extra = {});

}  // namespace cutover::build
