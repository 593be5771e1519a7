// How one OpenAI-compatible upstream differs from the others: how it takes its key, which extra headers it
// wants, which request fields it names differently or rejects, and how it continues a partial answer.
// Dialects are data: presets for the common providers, and any number more in the config file.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "formats/answer_decoder.h"

namespace mg {

// How an upstream is asked to continue an assistant message it did not write (stream resume).
enum class ContinuationStyle {
  assistant_prefill,     // a trailing assistant message is continued (OpenRouter, llama.cpp server, most)
  mistral_prefix,        // the trailing assistant message carries "prefix": true (Mistral's API)
  vllm_continue_final,   // "continue_final_message": true, "add_generation_prompt": false (vLLM)
};

struct Dialect {
  std::string name;
  WireApi wire = WireApi::openai_chat;  // the API the upstream speaks: OpenAI's chat completions, or Anthropic's Messages
  std::string auth_header = "Authorization";  // '' sends no key at all
  std::string auth_prefix = "Bearer ";
  std::vector<std::pair<std::string, std::string>> extra_headers;
  std::vector<std::pair<std::string, std::string>> renames;  // request field -> the upstream's name for it
  std::vector<std::string> drops;                            // request fields the upstream rejects
  bool keeps_routing_fields = false;  // OpenRouter's `provider` and `models` mean something there only
  bool asks_for_stream_usage = true;  // sends stream_options.include_usage when streaming
  ContinuationStyle continuation = ContinuationStyle::assistant_prefill;

  // Rewrites an OpenAI-shaped request body (model already set) into what this upstream accepts.
  void adapt(nlohmann::json& body) const;
  // Asks the upstream to continue `prefix`, an answer another route began, instead of starting afresh.
  void ask_to_continue(nlohmann::json& body, const std::string& prefix) const;
};

// The shipped presets: openai (any OpenAI-compatible server, unchanged), openai-platform, openrouter,
// deepinfra, together, mistral, groq, fireworks, vllm, llamacpp, ollama; and anthropic (Anthropic's
// Messages API, and the servers that speak it).
const std::vector<Dialect>& dialect_presets();

// Dialects by name: the presets, plus those defined in the config file.
class DialectRegistry {
 public:
  DialectRegistry();
  // A dialect from the config file's "dialects" object: {"base": preset, "auth_header", "auth_prefix",
  // "headers": {..}, "rename": {..}, "drop": [..], "keep_routing_fields", "stream_usage", "continuation"}.
  Status define(const std::string& name, const nlohmann::json& definition);
  const Dialect* find(std::string_view name) const;

 private:
  std::map<std::string, Dialect, std::less<>> dialects_;
};

}  // namespace mg
