#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace cutover::testing {
namespace {

std::vector<char*> argv(const std::string& binary, const std::vector<std::string>& args) {
  std::vector<char*> out;
  out.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& a : args) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int decodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

void drain(int fd, std::string& into) {
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return;
    into.append(buffer, static_cast<std::size_t>(n));
  }
}

// The port in "<marker>HOST:PORT", once the whole line has been printed.
std::optional<std::uint16_t> portAfter(const std::string& text, const std::string& marker) {
  auto at = text.find(marker);
  if (at == std::string::npos) return std::nullopt;
  // The line must be whole; the address ends at a space or a quote (a JSON log line).
  auto end = text.find('\n', at);
  if (end == std::string::npos) return std::nullopt;
  auto address_end = text.find_first_of(" \"\n", at + marker.size());
  auto colon = text.rfind(':', address_end);
  if (colon == std::string::npos || colon < at) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1, address_end - colon - 1)));
}

}  // namespace

std::string cutoverBinary() {
  const char* bin = std::getenv("CUTOVER_BIN");
  return bin != nullptr && *bin != '\0' ? bin : "cutover";
}

RunResult runCutover(const std::vector<std::string>& args) { return runCutover(args, {}); }

RunResult runCutover(const std::vector<std::string>& args, const RunOptions& options) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::string binary = cutoverBinary();
  auto av = argv(binary, args);
  // The environment is built before fork: the child of a threaded test may only exec.
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const auto& [name, value] : options.env) {
      replaced = replaced || (entry.starts_with(name) && entry.size() > name.size() &&
                              entry[name.size()] == '=');
    }
    if (!replaced) env_text.emplace_back(entry);
  }
  for (const auto& [name, value] : options.env) {
    if (!value.empty()) env_text.push_back(name + "=" + value);
  }
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) ::_exit(126);
    ::execvpe(av[0], av.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  RunResult result;
  // Read both pipes without deadlocking on a full one.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_count = 2;
  while (open_count > 0) {
    ::poll(fds, 2, -1);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[65536];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = decodeStatus(status);
  return result;
}

ServerProcess::ServerProcess(const std::vector<std::string>& args, const std::string& ready) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::string binary = cutoverBinary();
  auto av = argv(binary, args);
  pid_ = ::fork();
  if (pid_ == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(err_pipe[1], 2);
    ::execvp(av[0], av.data());
    ::_exit(127);
  }
  ::close(err_pipe[1]);
  err_fd_ = err_pipe[0];
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{err_fd_, POLLIN, 0};
    ::poll(&p, 1, 50);
    drain(err_fd_, err_);
    if (auto port = portAfter(err_, ready)) {
      port_ = *port;
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("server exited before serving: " + err_);
    }
  }
  stop();
  throw std::runtime_error("server did not start within 20 s: " + err_);
}

std::uint16_t ServerProcess::waitForPort(const std::string& marker) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{err_fd_, POLLIN, 0};
    ::poll(&p, 1, 50);
    drain(err_fd_, err_);
    if (auto port = portAfter(err_, marker)) return *port;
  }
  throw std::runtime_error("no \"" + marker + "\" within 20 s: " + err_);
}

ServerProcess::~ServerProcess() {
  stop();
  if (err_fd_ >= 0) ::close(err_fd_);
}

int ServerProcess::stop() {
  if (pid_ <= 0) return 0;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return decodeStatus(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return decodeStatus(status);
}

std::string ServerProcess::errors() {
  if (err_fd_ >= 0) drain(err_fd_, err_);
  return err_;
}

pid_t spawnCutover(const std::vector<std::string>& args, const std::filesystem::path& stderr_file) {
  std::string binary = cutoverBinary();
  auto av = argv(binary, args);
  std::string err_path = stderr_file.empty() ? "/dev/null" : stderr_file.string();
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(null, 1);
    ::dup2(err < 0 ? null : err, 2);
    ::execvp(av[0], av.data());
    ::_exit(127);
  }
  return pid;
}

ScopedEnv::ScopedEnv(std::initializer_list<std::pair<const char*, std::string>> values) {
  for (const auto& [name, value] : values) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
    ::setenv(name, value.c_str(), 1);
  }
}

ScopedEnv::~ScopedEnv() {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
    if (it->second) {
      ::setenv(it->first, it->second->c_str(), 1);
    } else {
      ::unsetenv(it->first);
    }
  }
}

}  // namespace cutover::testing
