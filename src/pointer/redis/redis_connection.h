#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "cutover/common/result.h"
#include "pointer/redis/redis_config.h"

namespace cutover {

struct RedisReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// One blocking hiredis connection, signed in and on its database. Not thread-safe: its owner
// guards it. Every wait is bounded by the config's connect and command timeouts; once an I/O
// error or a timeout has happened the connection is broken() (its stream is out of step) and is
// replaced, never reused.
class RedisConnection {
 public:
  // Connects, signs in (AUTH), names the client (`client_name`, shown by CLIENT LIST) and selects
  // the database. Fails with unavailable, naming the address and the reason.
  [[nodiscard]] static Result<RedisConnection> open(const RedisConfig& config,
                                                    std::string_view client_name);

  RedisConnection(RedisConnection&& other) noexcept;
  RedisConnection& operator=(RedisConnection&& other) noexcept;
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  // Sends one command and waits for its reply. An error reply from Redis is returned as a reply
  // (REDIS_REPLY_ERROR; what it means depends on the command); an I/O failure or a timeout is
  // unavailable, and breaks the connection.
  [[nodiscard]] Result<RedisReply> command(std::span<const std::string_view> args);
  [[nodiscard]] Result<RedisReply> command(std::initializer_list<std::string_view> args) {
    return command(std::span<const std::string_view>(args.begin(), args.size()));
  }

  // For a subscriber, which reads whenever its socket is readable: send() writes a command
  // without waiting for the reply; receive() reads what has arrived (call it when fd() polls
  // readable, or it blocks up to the command timeout); nextReply() is the next reply parsed so
  // far, or null.
  [[nodiscard]] Result<void> send(std::initializer_list<std::string_view> args);
  [[nodiscard]] Result<void> receive();
  [[nodiscard]] Result<RedisReply> nextReply();

  [[nodiscard]] int fd() const { return context_->fd; }
  [[nodiscard]] bool broken() const { return broken_; }
  // Whether the socket became readable while no command was waiting: the server closed the
  // connection (it restarted, or CLIENT KILL), so it must not be used for the next command.
  [[nodiscard]] bool closedWhileIdle() const;

 private:
  RedisConnection(redisContext* context, std::string address, std::chrono::milliseconds timeout);
  // Marks the connection broken and says why; `saved_errno` tells a timeout from other failures.
  Error ioError(std::string_view doing, int saved_errno);

  redisContext* context_;
  std::string address_;
  std::chrono::milliseconds timeout_;
  bool broken_ = false;
};

// The Error an error reply from Redis means: unavailable for a server that cannot serve now or
// will not let us in (NOAUTH, WRONGPASS, LOADING, READONLY, ...), io for anything else.
[[nodiscard]] Error redisReplyError(const redisReply& reply, const std::string& address,
                                    std::string_view doing);

}  // namespace cutover
