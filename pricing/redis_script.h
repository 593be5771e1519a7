// A Lua script that Redis runs by its SHA-1 once it has seen it (EVALSHA), and the call that falls back
// to sending the whole script (EVAL) when the server does not know it yet: a new or restarted server.
#pragma once

#include <string>
#include <vector>

#include "pricing/redis_connection.h"

namespace mg::pricing {

struct RedisScript {
  explicit RedisScript(std::string body);
  std::string text;
  std::string sha1;  // hex
};

// A number as a script's argument, with every digit it needs to read back the same.
std::string redis_number(double value);

// Runs `script` with its keys first, then its arguments; `done` as for RedisConnection::command.
void run_script(RedisConnection& redis, const RedisScript& script, std::vector<std::string> keys_and_arguments, std::size_t key_count,
                RedisConnection::Callback done);

}  // namespace mg::pricing
