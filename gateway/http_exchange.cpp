#include "gateway/http_exchange.h"

#include "core/json_text.h"

namespace mg::gateway {

std::string to_json_text(const nlohmann::json& value) {
  std::string text;
  append_json(text, value);
  return text;
}

std::string error_json(const Error& error) {
  nlohmann::json body = {{"error",
                          {{"message", error.message},
                           {"type", error.type},
                           {"param", error.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(error.param)},
                           {"code", error.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(error.code)}}}};
  return to_json_text(body);
}

HttpReply error_reply(const Error& error) {
  HttpReply reply;
  reply.status = error.http_status >= 400 && error.http_status <= 599 ? static_cast<unsigned>(error.http_status) : 500;
  reply.body = error_json(error);
  if (error.retry_after_s > 0) reply.headers.emplace_back("Retry-After", std::to_string(error.retry_after_s));
  return reply;
}

}  // namespace mg::gateway
