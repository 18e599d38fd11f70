#include "pointer/embedded/embedded_pointer_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "common/percent.h"
#include "cutover/common/guard.h"
#include "cutover/common/hash.h"
#include "pointer/watch_dispatcher.h"

namespace cutover {
namespace {

// Longer percent-encoded names become "~<sha256>": NAME_MAX is 255 on every Linux file system.
constexpr std::size_t kMaxEncodedName = 240;
constexpr char kLockName[] = ".lock";
constexpr char kTempName[] = ".tmp-write";
constexpr std::string_view kTempPrefix = ".tmp-";

bool isUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

std::string percentEncode(std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (isUnreserved(c)) {
      out += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

bool isHashedName(std::string_view name) {
  return name.size() == 65 && name[0] == '~' && isBlobHash(name.substr(1));
}

// Names starting with '.' (the lock, temp files) can never be keys: '.' is always encoded.
bool mayBeKeyFile(std::string_view name) { return !name.empty() && name[0] != '.'; }

// The key a percent-encoded file name stands for; nullopt for hashed names and foreign files.
std::optional<std::string> decodeName(std::string_view name) {
  if (!mayBeKeyFile(name) || isHashedName(name)) return std::nullopt;
  auto key = percentDecode(name);
  // Only the canonical spelling counts, so one key has exactly one file.
  if (!key || !validatePointerKey(*key) || percentEncode(*key) != name) return std::nullopt;
  return key;
}

struct KeyFile {
  std::string key;
  std::string value;
};

// Reads "<key>\n<value>" from `name` in `dir`; nullopt if there is no such file.
Result<std::optional<KeyFile>> readKeyFile(int dir, const std::string& name) {
  UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<KeyFile>{};
    return failErrno("open pointer file " + name, errno);
  }
  constexpr std::size_t kMaxFile = kMaxPointerKeyBytes + 1 + kMaxPointerValueBytes;
  std::string content;
  std::array<char, 16 * 1024> buffer{};
  while (true) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return failErrno("read pointer file " + name, errno);
    }
    if (n == 0) break;
    content.append(buffer.data(), static_cast<std::size_t>(n));
    if (content.size() > kMaxFile) return fail(Errc::io, "pointer file " + name + " is too large");
  }
  auto newline = content.find('\n');
  if (newline == std::string::npos) {
    return fail(Errc::io, "pointer file " + name + " is not a pointer record");
  }
  KeyFile file{content.substr(0, newline), content.substr(newline + 1)};
  return std::optional<KeyFile>{std::move(file)};
}

Result<std::vector<std::string>> listNames(int dir) {
  int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return failErrno("open pointer store folder", errno);
  DIR* stream = ::fdopendir(fd);
  if (stream == nullptr) {
    int err = errno;
    ::close(fd);
    return failErrno("read pointer store folder", err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(stream)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(stream);
  if (err != 0) return failErrno("read pointer store folder", err);
  return names;
}

// Holds an flock; the kernel releases it as well if the process dies.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        error_ = errno;
        return;
      }
    }
    locked_ = true;
  }
  ~FileLock() {
    if (locked_) ::flock(fd_, LOCK_UN);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  [[nodiscard]] bool locked() const { return locked_; }
  [[nodiscard]] int error() const { return error_; }

 private:
  int fd_;
  bool locked_ = false;
  int error_ = 0;
};

}  // namespace

// One inotify instance and one thread per store: reads events for the folder, re-reads the
// files they name, and calls every watcher whose prefix matches, one callback at a time.
class EmbeddedPointerStore::Dispatcher final : public WatchDispatcher {
 public:
  static Result<std::shared_ptr<Dispatcher>> start(int store_dir,
                                                   const std::filesystem::path& folder) {
    UniqueFd dir(::fcntl(store_dir, F_DUPFD_CLOEXEC, 0));
    if (!dir.valid()) return failErrno("duplicate pointer store folder", errno);
    UniqueFd inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!inotify.valid()) return failErrno("inotify_init1", errno);
    UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake.valid()) return failErrno("eventfd", errno);
    // Values only ever arrive by rename and leave by unlink (or rename), never by writing in place.
    constexpr std::uint32_t kMask = IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR;
    if (::inotify_add_watch(inotify.get(), folder.c_str(), kMask) < 0) {
      return failErrno("watch pointer store folder", errno);
    }
    auto dispatcher = std::shared_ptr<Dispatcher>(
        new Dispatcher(std::move(dir), std::move(inotify), std::move(wake)));
    // Events from now on are queued; the scan tells which keys exist, for deletes lost to an
    // inotify overflow and for the keys behind hashed names.
    auto scanned = dispatcher->scan();
    if (!scanned) return tl::unexpected(scanned.error());
    for (auto& [name, file] : *scanned) {
      dispatcher->known_.insert(name);
      if (isHashedName(name)) dispatcher->remember(name, file.key);
    }
    dispatcher->startThread();
    return dispatcher;
  }

  // The key behind a hashed file name, for when that file is gone by the time its event is read.
  void remember(const std::string& name, const std::string& key) {
    std::lock_guard lock(mutex_);
    hashed_keys_.emplace(name, key);
  }

 private:
  Dispatcher(UniqueFd dir, UniqueFd inotify, UniqueFd wake)
      : dir_(std::move(dir)), inotify_(std::move(inotify)), wake_(std::move(wake)) {}

  Result<std::map<std::string, KeyFile>> scan() {
    auto names = listNames(dir_.get());
    if (!names) return tl::unexpected(names.error());
    std::map<std::string, KeyFile> files;
    for (const auto& name : *names) {
      if (!mayBeKeyFile(name)) continue;
      auto file = readKeyFile(dir_.get(), name);
      if (!file || !*file) continue;  // unreadable or gone: its event (if any) tells the rest
      files.emplace(name, std::move(**file));
    }
    return files;
  }

  std::optional<std::string> keyOf(const std::string& name) {
    if (auto key = decodeName(name)) return key;
    std::lock_guard lock(mutex_);
    auto it = hashed_keys_.find(name);
    if (it == hashed_keys_.end()) return std::nullopt;
    return it->second;
  }

  void wakeLocked() override {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  }

  void run() override {
    // inotify_event is followed by its name; align the buffer as the man page asks.
    alignas(inotify_event) std::array<char, 64 * 1024> buffer{};
    while (true) {
      std::array<pollfd, 2> fds{pollfd{inotify_.get(), POLLIN, 0}, pollfd{wake_.get(), POLLIN, 0}};
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (isStopping()) return;
      ssize_t n = ::read(inotify_.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return;
      }
      bool overflow = false;
      std::vector<std::string> changed;  // in the order first seen; repeats coalesce
      std::set<std::string> seen;
      for (ssize_t offset = 0; offset < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + offset);
        offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        if ((event->mask & IN_Q_OVERFLOW) != 0) overflow = true;
        if (event->len == 0) continue;
        std::string name(event->name);
        if (mayBeKeyFile(name) && seen.insert(name).second) changed.push_back(std::move(name));
      }
      if (overflow) {
        relistAll();
      } else {
        for (const auto& name : changed) deliverCurrent(name);
      }
    }
  }

  // Reads the file now, so whatever was written last is what gets delivered.
  void deliverCurrent(const std::string& name) {
    auto file = readKeyFile(dir_.get(), name);
    if (!file) return;  // a foreign or unreadable file is no key
    if (*file) {
      auto decoded = decodeName(name);
      if (decoded ? *decoded != (*file)->key : !isHashedName(name)) return;
      if (!decoded) remember(name, (*file)->key);
      known_.insert(name);
      deliver(PointerEvent{std::move((*file)->key), std::move((*file)->value)});
      return;
    }
    auto key = keyOf(name);
    if (!key) return;
    known_.erase(name);
    deliver(PointerEvent{std::move(*key), std::nullopt});
  }

  // After an inotify overflow the lost events are unknowable: deliver every key as it is now,
  // and a removal for every key that was there and is gone.
  void relistAll() {
    auto scanned = scan();
    if (!scanned) return;
    std::set<std::string> now;
    for (auto& [name, file] : *scanned) {
      auto decoded = decodeName(name);
      if (decoded ? *decoded != file.key : !isHashedName(name)) continue;
      if (!decoded) remember(name, file.key);
      now.insert(name);
      deliver(PointerEvent{std::move(file.key), std::move(file.value)});
    }
    for (const auto& name : known_) {
      if (now.contains(name)) continue;
      if (auto key = keyOf(name)) deliver(PointerEvent{std::move(*key), std::nullopt});
    }
    known_ = std::move(now);
  }

  UniqueFd dir_;
  UniqueFd inotify_;
  UniqueFd wake_;
  std::map<std::string, std::string> hashed_keys_;  // "~<hash>" → key, as seen so far; mutex_

  std::set<std::string> known_;  // key files that exist, as far as events tell; thread only
};

std::string EmbeddedPointerStore::fileNameOf(std::string_view key) {
  std::string encoded = percentEncode(key);
  if (encoded.size() <= kMaxEncodedName) return encoded;
  std::string hashed = sha256Hex(key);
  hashed.insert(hashed.begin(), '~');  // not "~" + ...: GCC 12 -O2 warns falsely (-Wrestrict)
  return hashed;
}

Result<std::shared_ptr<EmbeddedPointerStore>> EmbeddedPointerStore::open(
    const std::filesystem::path& folder) {
  return open(folder, Options{});
}

Result<std::shared_ptr<EmbeddedPointerStore>> EmbeddedPointerStore::open(
    const std::filesystem::path& folder, Options options) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec)
    return fail(Errc::io, "create pointer store folder " + folder.string() + ": " + ec.message());
  UniqueFd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return failErrno("open pointer store folder " + folder.string(), errno);
  UniqueFd lock(::openat(dir.get(), kLockName, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!lock.valid() && (errno == EACCES || errno == EROFS)) {
    // A reader without write access (an edge running as another user) can still get and watch.
    lock.reset(::openat(dir.get(), kLockName, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  }
  if (!lock.valid()) return failErrno("open " + (folder / kLockName).string(), errno);
  auto store = std::shared_ptr<EmbeddedPointerStore>(
      new EmbeddedPointerStore(folder, options, std::move(dir), std::move(lock)));
  if (auto removed = store->lockedRemoveTempFiles(); !removed) {
    return tl::unexpected(removed.error());
  }
  return store;
}

EmbeddedPointerStore::EmbeddedPointerStore(std::filesystem::path folder, Options options,
                                           UniqueFd dir, UniqueFd lock)
    : folder_(std::move(folder)), options_(options), dir_(std::move(dir)), lock_(std::move(lock)) {}

EmbeddedPointerStore::~EmbeddedPointerStore() {
  std::shared_ptr<Dispatcher> dispatcher;
  {
    std::lock_guard lock(dispatcher_mutex_);
    dispatcher = std::move(dispatcher_);
  }
  // Outside the lock: a callback still running may call list() or compareAndSet(), which take it.
  if (dispatcher) dispatcher->stop();
}

// Temp files exist only while their writer holds the lock: any seen under the lock is a leftover.
// Best effort: a process that may only read the folder opens it all the same, and a leftover
// ".tmp-write" is truncated by the next write anyway.
Result<void> EmbeddedPointerStore::lockedRemoveTempFiles() {
  std::lock_guard guard(write_mutex_);
  FileLock lock(lock_.get());
  if (!lock.locked()) return failErrno("lock pointer store", lock.error());
  auto names = listNames(dir_.get());
  if (!names) return tl::unexpected(names.error());
  for (const auto& name : *names) {
    if (name.starts_with(kTempPrefix)) ::unlinkat(dir_.get(), name.c_str(), 0);
  }
  return {};
}

Result<std::optional<std::string>> EmbeddedPointerStore::get(const std::string& key) {
  if (auto valid = validatePointerKey(key); !valid) return tl::unexpected(valid.error());
  std::string name = fileNameOf(key);
  auto file = readKeyFile(dir_.get(), name);
  if (!file) return tl::unexpected(file.error());
  if (!*file || (*file)->key != key) return std::optional<std::string>{};
  return std::optional<std::string>{std::move((*file)->value)};
}

Result<void> EmbeddedPointerStore::compareAndSet(const std::string& key,
                                                 const std::optional<std::string>& expected,
                                                 const std::optional<std::string>& desired) {
  if (auto valid = validatePointerWrite(key, desired); !valid) return valid;
  std::string name = fileNameOf(key);

  std::lock_guard guard(write_mutex_);
  FileLock lock(lock_.get());
  if (!lock.locked()) return failErrno("lock pointer store", lock.error());

  auto file = readKeyFile(dir_.get(), name);
  if (!file) return tl::unexpected(file.error());
  std::optional<std::string> current;
  if (*file && (*file)->key == key) current = std::move((*file)->value);
  if (current != expected)
    return fail(Errc::conflict, "key " + key + " was changed by another writer");

  if (desired) {
    UniqueFd temp(::openat(dir_.get(), kTempName,
                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!temp.valid()) return failErrno("create temp file for " + key, errno);
    std::string content;
    content.reserve(key.size() + 1 + desired->size());
    content.append(key).append(1, '\n').append(*desired);
    auto written = writeAll(temp.get(), content.data(), content.size(), "write pointer file");
    if (written && options_.durable && ::fsync(temp.get()) != 0)
      written = failErrno("fsync " + key, errno);
    if (!written) {
      ::unlinkat(dir_.get(), kTempName, 0);
      return written;
    }
    temp.reset();
    if (::renameat(dir_.get(), kTempName, dir_.get(), name.c_str()) != 0) {
      int err = errno;
      ::unlinkat(dir_.get(), kTempName, 0);
      return failErrno("replace pointer file for " + key, err);
    }
  } else if (*file) {
    if (::unlinkat(dir_.get(), name.c_str(), 0) != 0) {
      return failErrno("remove pointer file for " + key, errno);
    }
  } else {
    return {};  // absent → absent: nothing to write
  }
  if (options_.durable && ::fsync(dir_.get()) != 0)
    return failErrno("fsync pointer store folder", errno);
  if (name[0] == '~') {
    std::lock_guard dispatcher_lock(dispatcher_mutex_);
    if (dispatcher_) dispatcher_->remember(name, key);
  }
  return {};
}

Result<std::map<std::string, std::string>> EmbeddedPointerStore::list(const std::string& prefix) {
  auto names = listNames(dir_.get());
  if (!names) return tl::unexpected(names.error());
  std::map<std::string, std::string> out;
  for (const auto& name : *names) {
    if (!mayBeKeyFile(name)) continue;
    auto decoded = decodeName(name);
    if (decoded ? !decoded->starts_with(prefix) : !isHashedName(name)) continue;
    auto file = readKeyFile(dir_.get(), name);
    if (!file) return tl::unexpected(file.error());
    if (!*file) continue;  // removed since the folder was read
    auto& [key, value] = **file;
    if (decoded ? *decoded != key : fileNameOf(key) != name) continue;
    if (!decoded) {
      std::lock_guard dispatcher_lock(dispatcher_mutex_);
      if (dispatcher_) dispatcher_->remember(name, key);
    }
    if (key.starts_with(prefix)) out.emplace(std::move(key), std::move(value));
  }
  return out;
}

Result<WatchHandlePtr> EmbeddedPointerStore::watch(
    const std::string& prefix, std::function<void(const PointerEvent&)> callback) {
  std::shared_ptr<Dispatcher> dispatcher;
  {
    std::lock_guard lock(dispatcher_mutex_);
    if (!dispatcher_) {
      auto started = Dispatcher::start(dir_.get(), folder_);
      if (!started) return tl::unexpected(started.error());
      dispatcher_ = std::move(*started);
    }
    dispatcher = dispatcher_;
  }
  return dispatcher->watch(prefix, std::move(callback));
}

}  // namespace cutover
