// One connection to the Redis server that replicas share, through hiredis's non-blocking API driven by
// an Asio loop on a thread of its own: callers never wait on Redis. Every command has a deadline; a
// command past it fails, and so does every command while the server is unreachable, at once, so the
// caller can fall back (pricing/shared_counters.h). The connection is re-opened in the background.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mg::pricing {

struct RedisReply {
  enum class Type { nil, integer, text, array, status, error };
  Type type = Type::nil;
  long long integer = 0;
  std::string text;  // a string, status or error reply
  std::vector<RedisReply> elements;
};

struct RedisOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::chrono::milliseconds command_timeout{200};
  std::chrono::milliseconds connect_timeout{1'000};
  std::chrono::milliseconds reconnect_interval{500};
  // Lua scripts sent with SCRIPT LOAD first on every connection, ahead of any command, so that an
  // EVALSHA never meets a server that lacks its script (a retry with EVAL would overtake later commands).
  std::vector<std::string> preload_scripts;
};

// "redis://host:port" (the port defaults to 6379). False when `url` is not of that form.
bool parse_redis_url(const std::string& url, RedisOptions& options);

struct RedisStatus {
  bool connected = false;
  double round_trip_ms = 0;        // of the last reply
  std::int64_t commands_total = 0;
  std::int64_t failures_total = 0;  // refused while unreachable, past their deadline, or errors
};

class RedisConnection {
 public:
  // The reply, or nullopt with `error` set when there is none (unreachable, deadline, disconnected).
  // Runs on the connection's own thread: post elsewhere to do more than a little work.
  using Callback = std::function<void(const RedisReply* reply, const std::string& error)>;

  explicit RedisConnection(RedisOptions options);  // connects in the background
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Lets the commands already sent reach the server and answer (one command deadline at most), runs
  // every callback still due, and stops the connection's thread. Commands sent after it fail at once.
  // Not from the connection's own thread (a callback).
  void close();
  // Sends the command (its arguments, binary-safe); thread-safe, never blocks.
  void command(std::vector<std::string> arguments, Callback done);
  RedisStatus status() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mg::pricing
