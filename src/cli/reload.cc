#include "cli/reload.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/api_host.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/pipeline_host.h"

namespace cutover::cli {
namespace {

std::filesystem::path runFolder(const std::filesystem::path& data_root) {
  return data_root / "run";
}

// What a reload cannot change in a running process.
std::string needsRestart(const Config& running, const Config& next) {
  std::string out;
  auto note = [&](bool changed, const char* what) {
    if (!changed) return;
    out += out.empty() ? "" : ", ";
    out += what;
  };
  note(running.data_dir != next.data_dir, "data_dir");
  note(running.store != next.store, "store");
  note(running.pointers != next.pointers, "pointers");
  note(running.serve_listen != next.serve_listen, "[serve] listen");
  note(running.api_listen != next.api_listen, "[api] listen");
  auto differ = [](const Config::ConnectionBounds& a, const Config::ConnectionBounds& b) {
    return a.total != b.total || a.per_client != b.per_client;
  };
  note(differ(running.serve_connections, next.serve_connections), "[serve] max_connections");
  note(differ(running.api_connections, next.api_connections), "[api] max_connections");
  note(running.workers != next.workers, "workers");
  return out;
}

std::string readFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "N ok|failed MESSAGE" → N (0 if absent or malformed).
unsigned answerCount(const std::string& text) {
  unsigned n = 0;
  std::istringstream in(text);
  in >> n;
  return n;
}

}  // namespace

ConfigReloader::ConfigReloader(DataDir& data, const std::string& role, PipelineHost* builders,
                               ApiHost* api)
    : data_(data), builders_(builders), api_(api) {
  std::error_code ec;
  std::filesystem::create_directories(runFolder(data.root), ec);
  std::string stem = role + "-" + std::to_string(::getpid());
  pid_file_ = runFolder(data.root) / (stem + ".pid");
  answer_file_ = runFolder(data.root) / (stem + ".reloaded");
  lock_.reset(::open(pid_file_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!lock_.valid() || ::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    // Not fatal: the process runs, only `cutover reload` cannot find it (SIGHUP still works).
    std::fprintf(stderr, "cutover: cannot register %s for cutover reload: %s\n", pid_file_.c_str(),
                 std::strerror(errno));
    lock_.reset();
    return;
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  (void)!::write(lock_.get(), pid.data(), pid.size());
}

ConfigReloader::~ConfigReloader() {
  std::error_code ec;
  if (lock_.valid()) std::filesystem::remove(pid_file_, ec);
  std::filesystem::remove(answer_file_, ec);
}

void ConfigReloader::reload() {
  const Config& running = *data_.config;
  auto next = loadConfig(running.file);
  if (!next) {
    answer(false, "the config was not reloaded, the running one stays: " + next.error().message);
    return;
  }
  std::string restart = needsRestart(running, *next);
  Result<void> applied = builders_ != nullptr ? builders_->reload(*data_.pointers, *next)
                                              : applySiteConfig(*data_.pointers, *next);
  if (!applied) {
    answer(false, "the config was not fully applied: " + applied.error().message);
    return;
  }
  if (api_ != nullptr) api_->reconfigure(*next);
  data_.config = std::move(*next);
  std::string message = "reloaded " + running.file.string() + " (" +
                        std::to_string(data_.config->sites.size()) + " sites)";
  if (!restart.empty()) message += "; " + restart + " changed: that takes a restart";
  answer(true, message);
}

void ConfigReloader::answer(bool ok, const std::string& message) {
  ++count_;
  std::fprintf(stderr, "cutover: %s\n", message.c_str());
  std::fflush(stderr);
  if (!lock_.valid()) return;
  auto tmp = answer_file_;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << count_ << (ok ? " ok " : " failed ") << message << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(tmp, answer_file_, ec);
}

sigset_t blockServeSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int waitForStopSignal(const sigset_t& signals, ConfigReloader* reloader) {
  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal != SIGHUP) return signal;
    if (reloader != nullptr) {
      reloader->reload();
    } else {
      std::fprintf(stderr,
                   "cutover: SIGHUP received, but this process runs without --config: "
                   "there is nothing to reload\n");
    }
  }
}

namespace {

struct Running {
  pid_t pid = 0;
  std::filesystem::path answer;
  unsigned before = 0;
};

int runReload(const GlobalOptions& global, unsigned timeout_seconds) {
  auto data = DataDir::open(global, DataDir::stores);
  std::vector<Running> running;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(runFolder(data.root), ec)) {
    if (entry.path().extension() != ".pid") continue;
    UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      std::filesystem::remove(entry.path(), ec);  // its process is gone
      continue;
    }
    Running r;
    r.pid = static_cast<pid_t>(std::atoi(readFile(entry.path()).c_str()));
    if (r.pid <= 0) continue;
    r.answer = entry.path();
    r.answer.replace_extension(".reloaded");
    r.before = answerCount(readFile(r.answer));
    running.push_back(r);
  }
  if (running.empty()) {
    std::fprintf(stderr,
                 "cutover: no cutover serve or pipeline started with a config runs on %s; "
                 "nothing to reload\n",
                 data.root.c_str());
    return kExitFailed;
  }
  for (const auto& r : running) ::kill(r.pid, SIGHUP);
  bool all_ok = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  for (const auto& r : running) {
    std::string text;
    while ((text = readFile(r.answer), answerCount(text) <= r.before) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (answerCount(text) <= r.before) {
      std::printf("process %d: no answer within %u s\n", static_cast<int>(r.pid), timeout_seconds);
      all_ok = false;
      continue;
    }
    auto first_space = text.find(' ');
    std::string rest = text.substr(first_space + 1);
    bool ok = rest.starts_with("ok ");
    all_ok = all_ok && ok;
    std::printf("process %d: %s", static_cast<int>(r.pid), rest.substr(rest.find(' ') + 1).c_str());
  }
  std::fflush(stdout);
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace

void addReloadCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto timeout = std::make_shared<unsigned>(10);
  auto* cmd = app.add_subcommand(
      "reload", "Make the running serve and pipeline processes read their config again");
  cmd->add_option("--timeout", *timeout, "Seconds to wait for their answer (default 10)");
  cmd->footer(
      "Sends SIGHUP to every `cutover serve` and `cutover pipeline` started with a config on\n"
      "this data folder and prints what each answered. A reload takes the sites, their builds,\n"
      "hosts, settings, webhook secrets and polling; listen addresses, stores, data_dir and\n"
      "workers take a restart. A config that does not load changes nothing: the running one\n"
      "stays and the answer (and the process's log) says why. Exit status 0 when every process\n"
      "took the new config.\n\n"
      "Example:\n  cutover --config cutover.toml reload\n");
  cmd->callback([&global, &run, timeout] {
    run = [&global, timeout] { return runReload(global, *timeout); };
  });
}

}  // namespace cutover::cli
