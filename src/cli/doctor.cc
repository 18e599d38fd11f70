// `cutover doctor`: checks a configuration end to end, the way cutover itself will use it, and
// says exactly what is wrong.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "common/random.h"
#include "cutover/common/config_error.h"
#include "cutover/common/hash.h"
#include "cutover/pointer/records.h"
#include "pipeline/build/command.h"
#include "pipeline/build/git.h"

namespace cutover::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct DoctorArgs {
  unsigned timeout = 10;  // seconds each check may take
};

// What one check found: a line to print when it passed.
using Found = Result<std::string>;

class Report {
 public:
  void ok(std::string_view what, std::string_view detail) {
    std::printf("ok    %-14s %.*s\n", std::string(what).c_str(), static_cast<int>(detail.size()),
                detail.data());
    std::fflush(stdout);
  }
  void failed(std::string_view what, std::string_view why) {
    ++failures_;
    std::printf("FAIL  %-14s %.*s\n", std::string(what).c_str(), static_cast<int>(why.size()),
                why.data());
    std::fflush(stdout);
  }
  void note(std::string_view what, std::string_view detail) {
    std::printf("note  %-14s %.*s\n", std::string(what).c_str(), static_cast<int>(detail.size()),
                detail.data());
    std::fflush(stdout);
  }
  void record(std::string_view what, const Found& found) {
    if (found) {
      ok(what, *found);
    } else {
      failed(what, found.error().message);
    }
  }
  [[nodiscard]] int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

// Runs `check` on its own thread and waits at most `limit` for it. A store that hangs (a
// firewall dropping packets) must not hang the doctor; a check still running when time is up is
// left behind, and the process ends without waiting for it (hung_ tells runDoctor to _Exit).
class Deadline {
 public:
  explicit Deadline(std::chrono::seconds limit) : limit_(limit) {}

  Found run(std::function<Found()> check) {
    struct Shared {
      std::mutex mutex;
      std::condition_variable done;
      std::optional<Found> found;
    };
    auto shared = std::make_shared<Shared>();
    std::thread worker([shared, check = std::move(check)] {
      Found found = check();
      std::lock_guard lock(shared->mutex);
      shared->found = std::move(found);
      shared->done.notify_all();
    });
    std::unique_lock lock(shared->mutex);
    if (!shared->done.wait_for(lock, limit_, [&] { return shared->found.has_value(); })) {
      worker.detach();
      hung_ = true;
      return fail(Errc::unavailable,
                  "no answer within " + std::to_string(limit_.count()) + " s (is it reachable?)");
    }
    lock.unlock();
    // A check that answered is joined, so its thread has ended (and freed what its libraries
    // keep per thread, such as OpenSSL's random generator) before the process exits.
    worker.join();
    return std::move(*shared->found);
  }
  [[nodiscard]] bool hung() const { return hung_; }

 private:
  std::chrono::seconds limit_;
  bool hung_ = false;
};

std::string millisSince(Clock::time_point start) {
  return formatMillis(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
}

// Writes a blob no version can use (random bytes), reads it back, checks it, removes it.
Found checkObjectStore(const ObjectStorePtr& objects) {
  auto start = Clock::now();
  std::string bytes = "cutover doctor test blob " + randomHex(16) + "\n";
  bytes.resize(1024, '.');
  auto writer = objects->newBlob();
  if (!writer) return fail(writer.error().code, "starting a blob: " + writer.error().message);
  auto span = std::as_bytes(std::span(bytes.data(), bytes.size()));
  if (auto wrote = (*writer)->write(span); !wrote) {
    return fail(wrote.error().code, "writing a test blob: " + wrote.error().message);
  }
  auto stored = (*writer)->finish();
  if (!stored) return fail(stored.error().code, "storing a test blob: " + stored.error().message);
  if (auto flushed = objects->flush(); !flushed) {
    return fail(flushed.error().code, "making the test blob durable: " + flushed.error().message);
  }
  auto read = objects->readBlob(stored->hash);
  if (!read) return fail(read.error().code, "reading the test blob back: " + read.error().message);
  if (*read != bytes) {
    return fail(Errc::io, "the test blob read back differs from what was written");
  }
  std::vector<std::string> hashes{stored->hash};
  auto missing = objects->missing(hashes);
  if (!missing) return fail(missing.error().code, "asking for blobs: " + missing.error().message);
  if (!missing->empty()) {
    return fail(Errc::io, "the store says it lacks the test blob it just returned");
  }
  if (auto removed = objects->deleteBlob(stored->hash); !removed) {
    return fail(removed.error().code, "removing the test blob: " + removed.error().message);
  }
  auto sites = objects->listSites();
  if (!sites) return fail(sites.error().code, "listing sites: " + sites.error().message);
  return "wrote, read back and removed a 1 KiB test blob; " + std::to_string(sites->size()) +
         " sites stored (" + millisSince(start) + ")";
}

// Creates a key of its own, watches it, changes it and waits for the change, removes it.
Found checkPointerStore(const PointerStorePtr& pointers, std::chrono::seconds limit) {
  auto start = Clock::now();
  auto sites = pointers->list(std::string(kLivePrefix));
  if (!sites) return fail(sites.error().code, "listing live pointers: " + sites.error().message);
  std::string key = "doctor/" + randomHex(8);
  if (auto made = pointers->compareAndSet(key, std::nullopt, "1"); !made) {
    return fail(made.error().code, "writing a test key: " + made.error().message);
  }
  std::mutex mutex;
  std::condition_variable seen;
  bool changed = false;
  auto watch = pointers->watch(key, [&](const PointerEvent& event) {
    if (event.key != key || event.value != std::optional<std::string>("2")) return;
    std::lock_guard lock(mutex);
    changed = true;
    seen.notify_all();
  });
  auto cleanup = [&](const std::optional<std::string>& value) {
    (void)pointers->compareAndSet(key, value, std::nullopt);
  };
  if (!watch) {
    cleanup("1");
    return fail(watch.error().code, "watching: " + watch.error().message);
  }
  auto flip = Clock::now();
  if (auto set = pointers->compareAndSet(key, "1", "2"); !set) {
    cleanup("1");
    return fail(set.error().code, "compare-and-set of the test key: " + set.error().message);
  }
  bool arrived = false;
  {
    std::unique_lock lock(mutex);
    arrived = seen.wait_for(lock, limit, [&] { return changed; });
  }
  auto latency = millisSince(flip);
  watch->reset();
  cleanup("2");
  if (!arrived) {
    return fail(Errc::unavailable, "a change to a watched key was not seen within " +
                                       std::to_string(limit.count()) + " s: edges would not " +
                                       "follow flips");
  }
  return std::to_string(sites->size()) + " live sites; compare-and-set and a watch round trip in " +
         latency + " (all " + millisSince(start) + ")";
}

// The site's repository answers and has the branch.
Found checkSite(const SiteConfig& site, const std::filesystem::path& home,
                std::chrono::seconds limit) {
  build::GitOptions options;
  options.env = build::cleanEnvironment(home);
  options.timeout = limit;
  auto head = build::remoteHead(site.repo, site.branch, options);
  if (!head) {
    return fail(head.error().code,
                site.repo + " branch " + site.branch + ": " + head.error().message);
  }
  std::string found = site.repo + " " + site.branch + " at " + head->substr(0, 7);
  if (site.poll_interval.count() > 0) {
    found += ", polled every " + std::to_string(site.poll_interval.count()) + " s";
  }
  return found;
}

int runDoctor(const GlobalOptions& global, const DoctorArgs& args) {
  Report report;
  std::chrono::seconds limit(args.timeout);
  std::optional<DataDir> data;
  try {
    data = DataDir::open(global, DataDir::stores);
  } catch (const ConfigError& e) {
    report.failed("configuration", e.what());
    return kExitFailed;
  }
  if (data->config) {
    report.ok("configuration", data->config->file.string() + ": " +
                                   std::to_string(data->config->sites.size()) + " sites");
  } else {
    report.note("configuration",
                "none given (--config FILE or $CUTOVER_CONFIG); checking the "
                "data folder's stores");
  }
  report.ok("data folder", data->root.string());

  Deadline deadline(limit);
  auto objects = data->objects;
  report.record("object store",
                deadline.run([objects] { return checkObjectStore(objects); })
                    .map([&](std::string found) { return data->objects_uri + ": " + found; })
                    .map_error([&](Error e) {
                      e.message = data->objects_uri + ": " + e.message;
                      return e;
                    }));
  auto pointers = data->pointers;
  report.record("pointer store",
                deadline.run([pointers, limit] { return checkPointerStore(pointers, limit); })
                    .map([&](std::string found) { return data->pointers_uri + ": " + found; })
                    .map_error([&](Error e) {
                      e.message = data->pointers_uri + ": " + e.message;
                      return e;
                    }));
  if (data->config) {
    auto home = data->root / "tmp";
    std::error_code ec;
    std::filesystem::create_directories(home, ec);
    for (const auto& site : data->config->sites) {
      std::string label = "site " + site.name;
      if (!site.builds()) {
        report.note(label, "no repo: deployed by uploads only");
        continue;
      }
      report.record(label,
                    deadline.run([site, home, limit] { return checkSite(site, home, limit); }));
      if (site.resolveWebhookSecret().empty()) {
        report.note(label, site.secret_env.empty()
                               ? "no webhook_secret: webhooks for it are refused"
                               : "$" + site.secret_env + " is empty: webhooks for it are refused");
      }
      if (site.sandbox && std::system("command -v bwrap >/dev/null 2>&1") != 0) {
        report.failed(label, "sandbox = true but bwrap is not installed (apt install bubblewrap)");
      }
    }
  }
  if (report.failures() == 0) {
    std::printf("everything cutover needs answers\n");
  } else {
    std::printf("%d problem%s found\n", report.failures(), report.failures() == 1 ? "" : "s");
  }
  std::fflush(stdout);
  int status = report.failures() == 0 ? kExitOk : kExitFailed;
  // A check still hanging on a store would keep the process alive: leave without it.
  if (deadline.hung()) std::_Exit(status);
  return status;
}

}  // namespace

void addDoctorCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<DoctorArgs>();
  auto* cmd = app.add_subcommand(
      "doctor", "Check the stores and sites of a configuration end to end, and say what is wrong");
  cmd->add_option("--timeout", args->timeout, "Seconds each check may take (default 10)");
  cmd->footer(
      "Checks, as cutover itself will use them: the config file; the object store (writes,\n"
      "reads back and removes a test blob, lists sites); the pointer store (writes a test key,\n"
      "watches it, changes it and times the change's arrival, removes it); each site's git\n"
      "repository and branch, its webhook secret and its sandbox. Prints one line per check;\n"
      "exit status 0 when all pass, 1 otherwise.\n\n"
      "Examples:\n  cutover doctor --config /etc/cutover/cutover.toml\n"
      "  CUTOVER_STORE='s3://site-bucket?endpoint=http://127.0.0.1:7480' "
      "CUTOVER_POINTERS=etcd://127.0.0.1:2379 cutover doctor\n");
  cmd->callback(
      [&global, &run, args] { run = [&global, args] { return runDoctor(global, *args); }; });
}

}  // namespace cutover::cli
