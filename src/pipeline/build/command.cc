#include "pipeline/build/command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace cutover::build {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxLine = 16 * 1024;  // longer lines are cut into pieces of this size
constexpr int kFirstBindFd = 10;             // where a confined child keeps its folders open

std::string lookupEnv(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
      return e.substr(name.size() + 1);
    }
  }
  return {};
}

// The program to exec, found before fork: a child of a threaded process may only make
// async-signal-safe calls, so it cannot search PATH itself.
std::string resolveProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = lookupEnv(env, "PATH");
  if (path.empty()) path = "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// Splits a stream into lines for the sink.
class LineSplitter {
 public:
  LineSplitter(Stream stream, const LineSink& sink) : stream_(stream), sink_(sink) {}
  void feed(const char* data, std::size_t n) {
    while (n > 0) {
      const auto* newline = static_cast<const char*>(std::memchr(data, '\n', n));
      std::size_t line = newline != nullptr ? static_cast<std::size_t>(newline - data) : n;
      std::size_t take = std::min(line, kMaxLine - pending_.size());
      pending_.append(data, take);
      data += take;
      n -= take;
      if (pending_.size() >= kMaxLine) {
        emit();
      } else if (take == line && newline != nullptr) {
        emit();
        ++data;
        --n;
      }
    }
  }
  void finish() {
    if (!pending_.empty()) emit();
  }

 private:
  void emit() {
    if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
    if (sink_) sink_(stream_, pending_);
    pending_.clear();
  }
  Stream stream_;
  const LineSink& sink_;
  std::string pending_;
};

// Everything the child needs, made before fork: the child of a threaded process may not allocate.
struct ChildPlan {
  ChildPlan(const Command& command, std::string program_path)
      : program(std::move(program_path)),
        cwd(command.cwd.string()),
        confine(command.confinement),
        stage(confine.stage.string()) {
    for (const auto& a : command.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : command.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    for (std::size_t i = 0; i < confine.binds.size(); ++i) {
      bind_sources.push_back(confine.binds[i].first.string());
      bind_targets.push_back((confine.stage / confine.binds[i].second).string());
      bind_fds.push_back("/proc/self/fd/" + std::to_string(kFirstBindFd + i));
    }
  }

  std::string program;
  std::vector<char*> argv, envp;
  std::string cwd;
  const Confinement& confine;
  std::string stage;
  std::vector<std::string> bind_sources, bind_targets, bind_fds;
};

// The child's way out when its set-up fails: a message the build log shows, and status 126.
template <std::size_t N>
[[noreturn]] void die(const char (&message)[N], int status = 126) {
  (void)!::write(2, message, N - 1);
  ::_exit(status);
}

// In a mount namespace of the child's own, open every folder (a tmpfs over the stage may hide
// some; a bind needs them opened in this namespace), then lay the stage.
void layStage(const ChildPlan& plan) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    die("cutover: cannot make a mount namespace for the build\n");
  }
  for (std::size_t i = 0; i < plan.bind_sources.size(); ++i) {
    int fd = ::open(plan.bind_sources[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    int want = kFirstBindFd + static_cast<int>(i);
    if (fd < 0 || (fd != want && ::dup2(fd, want) < 0)) {
      die("cutover: cannot open a folder of the build\n");
    }
    if (fd != want) ::close(fd);
  }
  if (::mount("tmpfs", plan.stage.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") !=
      0) {
    die("cutover: cannot make a mount namespace for the build\n");
  }
  for (std::size_t i = 0; i < plan.bind_sources.size(); ++i) {
    if (::mkdir(plan.bind_targets[i].c_str(), 0755) != 0 ||
        ::mount(plan.bind_fds[i].c_str(), plan.bind_targets[i].c_str(), nullptr, MS_BIND | MS_REC,
                nullptr) != 0) {
      die("cutover: cannot bind a folder of the build\n");
    }
    ::close(kFirstBindFd + static_cast<int>(i));
  }
}

void limit(int resource, std::uint64_t value) {
  if (value == 0) return;
  rlimit r{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  if (::setrlimit(resource, &r) != 0) die("cutover: cannot limit the build\n");
}

// The child after fork: only async-signal-safe calls.
[[noreturn]] void runChild(const ChildPlan& plan, int out_fd, int err_fd) {
  ::setsid();
  int null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) ::dup2(null, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  ::close_range(3, ~0U, 0);
  if (!plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) {
    die("cutover: cannot enter the build folder\n");
  }
  const Confinement& confine = plan.confine;
  if (confine.user) layStage(plan);
  limit(RLIMIT_DATA, confine.memory);
  limit(RLIMIT_NPROC, confine.processes);
  limit(RLIMIT_FSIZE, confine.file_size);
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  if (confine.user) {
    auto [uid, gid] = *confine.user;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      die("cutover: cannot switch to the build user\n");
    }
  }
  ::signal(SIGPIPE, SIG_DFL);
  // A worker killed with SIGKILL takes its build with it (a sandboxed build entirely: bwrap
  // --die-with-parent ends its whole pid namespace). Set after the switch of user, which
  // clears it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::execve(plan.program.c_str(), plan.argv.data(), plan.envp.data());
  die("cutover: cannot execute the command\n", 127);
}

// The parent's side of a running command: reads its output into the sink until it exits, and
// ends its whole group at the timeout or when asked to stop.
class ChildWatch {
 public:
  ChildWatch(pid_t pid, int out_fd, int err_fd, const LineSink& sink, Clock::time_point started)
      : pid_(pid),
        started_(started),
        out_lines_(Stream::out, sink),
        err_lines_(Stream::err, sink),
        fds_{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}} {}

  CommandResult run(const Command& command, const std::stop_token& stop) {
    auto deadline =
        command.timeout.count() > 0 ? started_ + command.timeout : Clock::time_point::max();
    std::optional<Clock::time_point> kill_at;      // set once SIGTERM went out
    std::optional<Clock::time_point> drain_until;  // after exit: how long to wait for EOF
    while (true) {
      if (!drain_until && reaped()) drain_until = Clock::now() + std::chrono::seconds(2);
      auto now = Clock::now();
      if (drain_until) {
        if (open_pipes_ == 0 || now >= *drain_until) break;
      } else if (!kill_at && (now >= deadline || stop.stop_requested())) {
        (now >= deadline ? result_.timed_out : result_.cancelled) = true;
        ::kill(-pid_, SIGTERM);
        kill_at = now + command.kill_grace;
      } else if (kill_at && now >= *kill_at) {
        ::kill(-pid_, SIGKILL);
        kill_at = Clock::time_point::max();
      }
      readSome(20);
    }
    for (auto& f : fds_) {
      if (f.fd >= 0) ::close(f.fd);
    }
    out_lines_.finish();
    err_lines_.finish();
    if (WIFEXITED(status_)) result_.exit_code = WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) result_.signal = WTERMSIG(status_);
    return result_;
  }

 private:
  // Whether the command exited; if so, what it left running in its group is killed and it is
  // reaped.
  bool reaped() {
    siginfo_t info{};
    // WNOWAIT: the exited leader stays a zombie, so its process group id cannot be reused
    // before the rest of the group is killed below.
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid_) {
      return false;
    }
    result_.ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    return true;
  }

  void readSome(int timeout_ms) {
    if (open_pipes_ == 0) {
      if (timeout_ms > 0) ::poll(nullptr, 0, timeout_ms);
      return;
    }
    ::poll(fds_, 2, timeout_ms);
    for (int i = 0; i < 2; ++i) {
      if (fds_[i].fd < 0 || fds_[i].revents == 0) continue;
      char buffer[8192];
      ssize_t n = ::read(fds_[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? out_lines_ : err_lines_).feed(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds_[i].fd);
        fds_[i].fd = -1;
        --open_pipes_;
      }
    }
  }

  pid_t pid_;
  Clock::time_point started_;
  LineSplitter out_lines_, err_lines_;
  pollfd fds_[2];
  int open_pipes_ = 2;
  int status_ = 0;
  CommandResult result_;
};

}  // namespace

std::string CommandResult::describe(std::chrono::milliseconds timeout) const {
  if (timed_out) {
    return fmt::format("timed out after {} s and was killed", (timeout.count() + 999) / 1000);
  }
  if (cancelled) return "was stopped because the pipeline shut down";
  if (signal != 0) return fmt::format("was killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exited with status {}", exit_code);
}

std::vector<std::string> cleanEnvironment(const std::filesystem::path& home,
                                          const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  const char* path = std::getenv("PATH");
  env["PATH"] = path != nullptr && *path != '\0'
                    ? path
                    : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  env["HOME"] = home.string();
  env["LANG"] = "C.UTF-8";
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

Result<CommandResult> runCommand(const Command& command, const LineSink& sink,
                                 std::stop_token stop) {
  if (command.argv.empty()) return fail(Errc::invalid_argument, "no command to run");
  std::string program = resolveProgram(command.argv[0], command.env);
  if (program.empty()) {
    return fail(Errc::not_found,
                fmt::format("'{}' is not installed (not found in PATH)", command.argv[0]));
  }
  const ChildPlan plan(command, std::move(program));
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return failErrno("pipe", errno);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return failErrno("pipe", e);
  }
  auto started = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return failErrno("fork", e);
  }
  if (pid == 0) runChild(plan, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  return ChildWatch(pid, out_pipe[0], err_pipe[0], sink, started).run(command, stop);
}

}  // namespace cutover::build
