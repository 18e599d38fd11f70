// How long a pointer flip takes to reach a process that watches it, through
// EmbeddedPointerStore (or any store a URI names, with --uri): a writer process compare-and-sets
// "bench/live" N times; the watcher process (this one) records when each value reaches its callback
// and acknowledges it, so every flip is measured on its own (no queueing behind the previous one,
// no coalescing).
//
// Times are CLOCK_MONOTONIC, one clock for both processes, kept in shared memory:
//   call → callback     from just before compareAndSet is called in the writer to the callback
//                       starting here: writing the file, its fsync, the rename, inotify, the
//                       dispatcher re-reading the file. An upper bound on what a user waits for.
//   return → callback   from compareAndSet returning. With fsync on this is often negative: the
//                       value is visible from the rename on, while the writer still fsyncs the
//                       folder. With --no-fsync it is the notification path alone.
//
// usage: pointer_latency [--flips N] [--dir FOLDER] [--no-fsync] [--uri URI]
//        (FOLDER: where the store goes; default a new folder under $TMPDIR, removed afterwards.
//         URI: a store for makePointerStore instead, such as etcd://127.0.0.1:2379/bench)
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cutover/common/config_error.h"
#include "pointer/embedded/embedded_pointer_store.h"

namespace {

using cutover::EmbeddedPointerStore;

// The store under test: the embedded one in `folder`, or the one `uri` names.
cutover::Result<cutover::PointerStorePtr> openStore(const std::filesystem::path& folder,
                                                    EmbeddedPointerStore::Options options,
                                                    const std::string& uri) {
  if (uri.empty()) {
    auto store = EmbeddedPointerStore::open(folder, options);
    if (!store) return tl::unexpected(store.error());
    return cutover::PointerStorePtr(*store);
  }
  try {
    return cutover::makePointerStore(uri);
  } catch (const cutover::ConfigError& error) {
    return cutover::fail(cutover::Errc::invalid_argument, error.what());
  }
}

std::int64_t nowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Shared {
  std::int64_t call;      // writer: just before compareAndSet
  std::int64_t returned;  // writer: compareAndSet returned
  std::int64_t received;  // watcher: callback started
};

const std::string kKey = "bench/live";

std::string valueOf(int flip) { return "flip " + std::to_string(flip); }

// The writer process: waits for "ready", then flips once per acknowledgement.
int runWriter(const std::filesystem::path& folder, EmbeddedPointerStore::Options options,
              const std::string& uri, Shared* times, int flips, int ready_fd, int ack_fd) {
  auto store = openStore(folder, options, uri);
  if (!store) {
    std::fprintf(stderr, "writer: %s\n", store.error().describe().c_str());
    return 1;
  }
  char byte = 0;
  if (::read(ready_fd, &byte, 1) != 1) return 1;
  auto current = (*store)->get(kKey);  // a --dir reused from an earlier run already holds one
  if (!current) {
    std::fprintf(stderr, "writer: %s\n", current.error().describe().c_str());
    return 1;
  }
  std::optional<std::string> previous = *current;
  for (int i = 0; i < flips; ++i) {
    std::string value = valueOf(i);
    times[i].call = nowNs();
    auto set = (*store)->compareAndSet(kKey, previous, value);
    times[i].returned = nowNs();
    if (!set) {
      std::fprintf(stderr, "writer: %s\n", set.error().describe().c_str());
      return 1;
    }
    previous = value;
    // Wait for the watcher to see it, or give up on this one after a second (counted as lost).
    pollfd fd{ack_fd, POLLIN, 0};
    if (::poll(&fd, 1, 1000) == 1) {
      int acked = 0;
      if (::read(ack_fd, &acked, sizeof acked) != sizeof acked) return 1;
    }
  }
  return 0;
}

struct Summary {
  double p50, p99, max;
};

Summary summarize(std::vector<std::int64_t> ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    auto index = static_cast<std::size_t>(q * static_cast<double>(ns.size()) + 0.999999) - 1;
    return static_cast<double>(ns[std::min(index, ns.size() - 1)]) / 1000.0;
  };
  return {at(0.50), at(0.99), static_cast<double>(ns.back()) / 1000.0};
}

void print(const char* label, const std::vector<std::int64_t>& ns) {
  auto s = summarize(ns);
  std::printf("  %-26s p50 %8.1f us   p99 %8.1f us   max %8.1f us\n", label, s.p50, s.p99, s.max);
}

}  // namespace

int main(int argc, char** argv) {
  int flips = 1000;
  std::filesystem::path folder;
  std::string uri;
  EmbeddedPointerStore::Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--flips" && i + 1 < argc) {
      flips = std::atoi(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      folder = argv[++i];
    } else if (arg == "--no-fsync") {
      options.durable = false;
    } else if (arg == "--uri" && i + 1 < argc) {
      uri = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--flips N] [--dir FOLDER] [--no-fsync] [--uri URI]\n",
                   argv[0]);
      return 2;
    }
  }
  if (flips <= 0) return 2;
  bool own_folder = folder.empty();
  if (own_folder) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "pointer-latency-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    folder = pattern;
  }

  std::size_t bytes = sizeof(Shared) * static_cast<std::size_t>(flips);
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  auto* times = static_cast<Shared*>(memory);
  std::memset(times, 0, bytes);

  int ready[2];
  int ack[2];
  if (::pipe(ready) != 0 || ::pipe(ack) != 0) {
    std::perror("pipe");
    return 1;
  }
  // Fork before this process starts any thread.
  pid_t writer = ::fork();
  if (writer < 0) {
    std::perror("fork");
    return 1;
  }
  if (writer == 0) {
    ::close(ready[1]);
    ::close(ack[1]);
    ::_exit(runWriter(folder, options, uri, times, flips, ready[0], ack[0]));
  }
  ::close(ready[0]);
  ::close(ack[0]);

  auto store = openStore(folder, EmbeddedPointerStore::Options{}, uri);
  if (!store) {
    std::fprintf(stderr, "watcher: %s\n", store.error().describe().c_str());
    return 1;
  }
  const int ack_fd = ack[1];
  auto handle = (*store)->watch("bench/", [&](const cutover::PointerEvent& event) {
    std::int64_t now = nowNs();
    if (event.key != kKey || !event.value || !event.value->starts_with("flip ")) return;
    int flip = std::atoi(event.value->c_str() + 5);
    if (flip < 0 || flip >= flips || times[flip].received != 0) return;
    times[flip].received = now;
    [[maybe_unused]] auto n = ::write(ack_fd, &flip, sizeof flip);
  });
  if (!handle) {
    std::fprintf(stderr, "watch: %s\n", handle.error().describe().c_str());
    return 1;
  }
  if (::write(ready[1], "r", 1) != 1) return 1;
  int status = 0;
  ::waitpid(writer, &status, 0);
  handle->reset();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "the writer process failed\n");
    return 1;
  }

  std::vector<std::int64_t> after_return;
  std::vector<std::int64_t> after_call;
  std::vector<std::int64_t> cas;
  int lost = 0;
  int early = 0;
  for (int i = 0; i < flips; ++i) {
    cas.push_back(times[i].returned - times[i].call);
    if (times[i].received == 0) {
      ++lost;
      continue;
    }
    after_return.push_back(times[i].received - times[i].returned);
    if (times[i].received < times[i].returned) ++early;
    after_call.push_back(times[i].received - times[i].call);
  }
  if (uri.empty()) {
    std::printf(
        "pointer_latency: %d flips from a writer process to a watching process, fsync %s,\n"
        "  EmbeddedPointerStore in %s\n",
        flips, options.durable ? "on" : "off (--no-fsync)", folder.c_str());
  } else {
    std::printf("pointer_latency: %d flips from a writer process to a watching process, %s\n",
                flips, uri.c_str());
  }
  if (!after_return.empty()) {
    print("CAS called -> callback", after_call);
    print("CAS returned -> callback", after_return);
  }
  print("CAS duration", cas);
  std::printf("  seen before the CAS returned: %d; lost (not seen within 1 s): %d\n", early, lost);
  if (own_folder) {
    std::error_code ec;
    std::filesystem::remove_all(folder, ec);
  }
  return lost == 0 ? 0 : 1;
}
