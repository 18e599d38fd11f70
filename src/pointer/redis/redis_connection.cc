#include "pointer/redis/redis_connection.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace cutover {
namespace {

timeval toTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

// hiredis writes with write(), which raises SIGPIPE on a connection the server closed; that must
// become an error for this call, not the end of the process. Blocks SIGPIPE in this thread for
// the call and discards one it raised.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    int saved = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved;
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

std::string_view replyText(const redisReply& reply) {
  return reply.str == nullptr ? std::string_view{} : std::string_view(reply.str, reply.len);
}

}  // namespace

Result<RedisConnection> RedisConnection::open(const RedisConfig& config,
                                              std::string_view client_name) {
  std::string address = config.address();
  redisContext* context =
      redisConnectWithTimeout(config.host.c_str(), config.port, toTimeval(config.connect_timeout));
  if (context == nullptr) {
    return fail(Errc::unavailable, "cannot connect to Redis at " + address + ": out of memory");
  }
  if (context->err != 0) {
    std::string reason = context->errstr;
    redisFree(context);
    // hiredis reports a connect timeout as EINPROGRESS's text; say what it means.
    if (reason.find("in progress") != std::string::npos ||
        reason.find("timed out") != std::string::npos) {
      reason = "no answer within " + std::to_string(config.connect_timeout.count()) + " ms";
    }
    return fail(Errc::unavailable, "cannot connect to Redis at " + address + ": " + reason);
  }
  RedisConnection connection(context, address, config.command_timeout);
  if (redisSetTimeout(context, toTimeval(config.command_timeout)) != REDIS_OK ||
      redisEnableKeepAlive(context) != REDIS_OK) {
    return tl::unexpected(connection.ioError("socket setup", errno));
  }

  auto check = [&](Result<RedisReply> reply, std::string_view doing) -> Result<void> {
    if (!reply) return tl::unexpected(reply.error());
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      Error error = redisReplyError(**reply, address, doing);
      error.code = Errc::unavailable;  // a connection we cannot set up is a store we cannot reach
      return tl::unexpected(std::move(error));
    }
    return {};
  };
  if (config.password) {
    auto reply = config.user.empty() ? connection.command({"AUTH", *config.password})
                                     : connection.command({"AUTH", config.user, *config.password});
    if (auto ok = check(std::move(reply), "the password"); !ok) return tl::unexpected(ok.error());
  }
  if (auto ok = check(connection.command({"CLIENT", "SETNAME", client_name}), "CLIENT SETNAME");
      !ok) {
    return tl::unexpected(ok.error());
  }
  if (config.db != 0) {
    std::string db = std::to_string(config.db);
    if (auto ok = check(connection.command({"SELECT", db}), "SELECT " + db); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  return connection;
}

RedisConnection::RedisConnection(redisContext* context, std::string address,
                                 std::chrono::milliseconds timeout)
    : context_(context), address_(std::move(address)), timeout_(timeout) {}

RedisConnection::RedisConnection(RedisConnection&& other) noexcept
    : context_(std::exchange(other.context_, nullptr)),
      address_(std::move(other.address_)),
      timeout_(other.timeout_),
      broken_(other.broken_) {}

RedisConnection& RedisConnection::operator=(RedisConnection&& other) noexcept {
  if (this != &other) {
    if (context_ != nullptr) redisFree(context_);
    context_ = std::exchange(other.context_, nullptr);
    address_ = std::move(other.address_);
    timeout_ = other.timeout_;
    broken_ = other.broken_;
  }
  return *this;
}

RedisConnection::~RedisConnection() {
  if (context_ != nullptr) redisFree(context_);
}

Error RedisConnection::ioError(std::string_view doing, int saved_errno) {
  broken_ = true;
  if (context_->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
    return Error{Errc::unavailable, "Redis at " + address_ + " did not answer " +
                                        std::string(doing) + " within " +
                                        std::to_string(timeout_.count()) + " ms"};
  }
  std::string reason;
  if (context_->err == REDIS_ERR_EOF) {
    reason = "the server closed the connection";
  } else if (context_->errstr[0] != '\0') {
    reason = context_->errstr;
  } else {
    reason = std::strerror(saved_errno);
  }
  return Error{Errc::unavailable, "the connection to Redis at " + address_ + " failed during " +
                                      std::string(doing) + ": " + reason};
}

Result<RedisReply> RedisConnection::command(std::span<const std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  void* reply = nullptr;
  int saved_errno = 0;
  {
    SigpipeBlock block;
    reply = redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data());
    saved_errno = errno;
  }
  if (reply == nullptr) {
    std::string doing = args.empty() ? "a command" : std::string(args[0]);
    return tl::unexpected(ioError(doing, saved_errno));
  }
  return RedisReply(static_cast<redisReply*>(reply));
}

Result<void> RedisConnection::send(std::initializer_list<std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  std::string doing(args.begin()->data(), args.begin()->size());
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                             lengths.data()) != REDIS_OK) {
    return tl::unexpected(ioError(doing, errno));
  }
  SigpipeBlock block;
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(context_, &done) != REDIS_OK) {
      return tl::unexpected(ioError(doing, errno));
    }
  }
  return {};
}

Result<void> RedisConnection::receive() {
  if (redisBufferRead(context_) != REDIS_OK) return tl::unexpected(ioError("a read", errno));
  return {};
}

Result<RedisReply> RedisConnection::nextReply() {
  void* reply = nullptr;
  if (redisGetReplyFromReader(context_, &reply) != REDIS_OK) {
    return tl::unexpected(ioError("reading a reply", errno));
  }
  return RedisReply(static_cast<redisReply*>(reply));
}

bool RedisConnection::closedWhileIdle() const {
  pollfd fd{context_->fd, POLLIN, 0};
  return ::poll(&fd, 1, 0) != 0;
}

Error redisReplyError(const redisReply& reply, const std::string& address, std::string_view doing) {
  std::string_view text = replyText(reply);
  std::string what =
      "Redis at " + address + " refused " + std::string(doing) + ": " + std::string(text);
  if (text.starts_with("NOAUTH")) {
    return Error{Errc::unavailable,
                 "Redis at " + address +
                     " wants a password: give it in $REDIS_PASSWORD or as redis://:PASSWORD@host"};
  }
  for (std::string_view busy :
       {"WRONGPASS", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "BUSY", "NOPERM", "OOM"}) {
    if (text.starts_with(busy)) return Error{Errc::unavailable, std::move(what)};
  }
  return Error{Errc::io, std::move(what)};
}

}  // namespace cutover
