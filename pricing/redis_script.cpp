#include "pricing/redis_script.h"

#include <cstdio>

#include <openssl/evp.h>

namespace mg::pricing {
namespace {

std::string sha1_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    char pair[3];
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

}  // namespace

std::string redis_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

RedisScript::RedisScript(std::string body) : text(std::move(body)), sha1(sha1_hex(text)) {}

void run_script(RedisConnection& redis, const RedisScript& script, std::vector<std::string> keys_and_arguments, std::size_t key_count,
                RedisConnection::Callback done) {
  std::vector<std::string> command = {"EVALSHA", script.sha1, std::to_string(key_count)};
  command.insert(command.end(), keys_and_arguments.begin(), keys_and_arguments.end());
  redis.command(command, [&redis, &script, command, done = std::move(done)](const RedisReply* reply, const std::string& error) mutable {
    if (reply && reply->type == RedisReply::Type::error && reply->text.starts_with("NOSCRIPT")) {
      command[0] = "EVAL";
      command[1] = script.text;
      redis.command(std::move(command), std::move(done));
      return;
    }
    done(reply, error);
  });
}

}  // namespace mg::pricing
