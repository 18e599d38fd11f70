#include "pipeline/build/command.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sched.h>
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
  std::vector<char*> argv;
  for (const auto& a : command.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : command.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::string cwd = command.cwd.string();
  // Everything the child needs for its confinement, made here: it may not allocate.
  const Confinement& confine = command.confinement;
  std::string stage = confine.stage.string();
  std::vector<std::string> bind_sources, bind_targets, bind_fds;
  for (std::size_t i = 0; i < confine.binds.size(); ++i) {
    bind_sources.push_back(confine.binds[i].first.string());
    bind_targets.push_back((confine.stage / confine.binds[i].second).string());
    bind_fds.push_back("/proc/self/fd/" + std::to_string(kFirstBindFd + i));
  }

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
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    ::setsid();
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close_range(3, ~0U, 0);
    auto die = [](const char* msg, std::size_t n) {
      (void)!::write(2, msg, n);
      ::_exit(126);
    };
#define CUTOVER_DIE(text) die(text, sizeof(text) - 1)
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      CUTOVER_DIE("cutover: cannot enter the build folder\n");
    }
    if (confine.user) {
      // In a mount namespace of its own, open every folder (a tmpfs over the stage may hide
      // some; a bind needs them opened in this namespace), then lay the stage.
      if (::unshare(CLONE_NEWNS) != 0 ||
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        CUTOVER_DIE("cutover: cannot make a mount namespace for the build\n");
      }
      for (std::size_t i = 0; i < bind_sources.size(); ++i) {
        int fd = ::open(bind_sources[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        int want = kFirstBindFd + static_cast<int>(i);
        if (fd < 0 || (fd != want && ::dup2(fd, want) < 0)) {
          CUTOVER_DIE("cutover: cannot open a folder of the build\n");
        }
        if (fd != want) ::close(fd);
      }
      if (::mount("tmpfs", stage.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") !=
          0) {
        CUTOVER_DIE("cutover: cannot make a mount namespace for the build\n");
      }
      for (std::size_t i = 0; i < bind_sources.size(); ++i) {
        if (::mkdir(bind_targets[i].c_str(), 0755) != 0 ||
            ::mount(bind_fds[i].c_str(), bind_targets[i].c_str(), nullptr, MS_BIND | MS_REC,
                    nullptr) != 0) {
          CUTOVER_DIE("cutover: cannot bind a folder of the build\n");
        }
        ::close(kFirstBindFd + static_cast<int>(i));
      }
    }
    auto limit = [&](int resource, std::uint64_t value) {
      if (value == 0) return;
      rlimit r{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
      if (::setrlimit(resource, &r) != 0) CUTOVER_DIE("cutover: cannot limit the build\n");
    };
    limit(RLIMIT_DATA, confine.memory);
    limit(RLIMIT_NPROC, confine.processes);
    limit(RLIMIT_FSIZE, confine.file_size);
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    if (confine.user) {
      auto [uid, gid] = *confine.user;
      if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
          ::setresuid(uid, uid, uid) != 0) {
        CUTOVER_DIE("cutover: cannot switch to the build user\n");
      }
    }
#undef CUTOVER_DIE
    ::signal(SIGPIPE, SIG_DFL);
    // A worker killed with SIGKILL takes its build with it (a sandboxed build entirely: bwrap
    // --die-with-parent ends its whole pid namespace). Set after the switch of user, which
    // clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execve(program.c_str(), argv.data(), envp.data());
    const char msg[] = "cutover: cannot execute the command\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  CommandResult result;
  LineSplitter out_lines(Stream::out, sink), err_lines(Stream::err, sink);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_pipes = 2;
  auto deadline =
      command.timeout.count() > 0 ? started + command.timeout : Clock::time_point::max();
  std::optional<Clock::time_point> kill_at;  // set once SIGTERM went out
  bool exited = false;
  std::optional<Clock::time_point> drain_until;  // after exit: how long to wait for EOF
  int status = 0;

  auto readSome = [&](int timeout_ms) {
    if (open_pipes == 0) {
      if (timeout_ms > 0) ::poll(nullptr, 0, timeout_ms);
      return;
    }
    ::poll(fds, 2, timeout_ms);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? out_lines : err_lines).feed(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_pipes;
      }
    }
  };

  while (true) {
    if (!exited) {
      siginfo_t info{};
      // WNOWAIT: the exited leader stays a zombie, so its process group id cannot be reused
      // before the rest of the group is killed below.
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid) {
        exited = true;
        result.ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        ::kill(-pid, SIGKILL);  // what the command left behind in its group
        ::waitpid(pid, &status, 0);
        drain_until = Clock::now() + std::chrono::seconds(2);
      }
    }
    if (exited) {
      if (open_pipes == 0 || Clock::now() >= *drain_until) break;
      readSome(20);
      continue;
    }
    auto now = Clock::now();
    if (!kill_at && (now >= deadline || stop.stop_requested())) {
      (now >= deadline ? result.timed_out : result.cancelled) = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + command.kill_grace;
    } else if (kill_at && now >= *kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = Clock::time_point::max();
    }
    readSome(20);
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  out_lines.finish();
  err_lines.finish();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

}  // namespace cutover::build
