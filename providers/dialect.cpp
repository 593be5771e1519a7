#include "providers/dialect.h"

namespace mg {
namespace {

using nlohmann::json;

// Sampling fields outside OpenAI's own API: APIs that validate strictly answer 400 or 422 to them.
const std::vector<std::string> kOpenSourceSamplingFields = {"top_k", "min_p", "repetition_penalty"};

std::vector<std::string> with(std::vector<std::string> base, std::initializer_list<const char*> more) {
  for (const char* field : more) base.emplace_back(field);
  return base;
}

std::vector<Dialect> make_presets() {
  std::vector<Dialect> presets;
  auto add = [&](std::string name) -> Dialect& {
    presets.emplace_back();
    presets.back().name = std::move(name);
    return presets.back();
  };
  // Any OpenAI-compatible server, the catalogue's default: the request goes as the client sent it.
  add("openai");

  // OpenAI's own API: max_tokens is deprecated (and refused by reasoning models); no open-model knobs.
  Dialect& openai_platform = add("openai-platform");
  openai_platform.renames = {{"max_tokens", "max_completion_tokens"}};
  openai_platform.drops = kOpenSourceSamplingFields;

  Dialect& openrouter = add("openrouter");
  openrouter.keeps_routing_fields = true;
  openrouter.extra_headers = {{"HTTP-Referer", "https://github.com/modelgate/modelgate"}, {"X-Title", "modelgate"}};

  add("deepinfra");
  add("together");
  add("fireworks");

  // Mistral's API refuses unknown fields (422) and names the seed random_seed.
  Dialect& mistral = add("mistral");
  mistral.renames = {{"seed", "random_seed"}, {"max_completion_tokens", "max_tokens"}};
  mistral.drops = with(kOpenSourceSamplingFields, {"logit_bias", "logprobs", "top_logprobs", "user", "stream_options"});
  mistral.asks_for_stream_usage = false;  // it reports usage in the last chunk unasked
  mistral.continuation = ContinuationStyle::mistral_prefix;

  // Groq: no logprobs or logit_bias; max_tokens is deprecated there too.
  Dialect& groq = add("groq");
  groq.renames = {{"max_tokens", "max_completion_tokens"}};
  groq.drops = with(kOpenSourceSamplingFields, {"logit_bias", "logprobs", "top_logprobs"});

  Dialect& vllm = add("vllm");
  vllm.continuation = ContinuationStyle::vllm_continue_final;

  // llama.cpp's server calls the repetition penalty repeat_penalty.
  Dialect& llamacpp = add("llamacpp");
  llamacpp.renames = {{"repetition_penalty", "repeat_penalty"}, {"max_completion_tokens", "max_tokens"}};

  // Anthropic's Messages API: its own request and answer formats (formats/anthropic_upstream.h), its key
  // in x-api-key, and the API version it answers in. It continues a trailing assistant turn (prefill).
  Dialect& anthropic = add("anthropic");
  anthropic.wire = WireApi::anthropic_messages;
  anthropic.auth_header = "x-api-key";
  anthropic.auth_prefix.clear();
  anthropic.extra_headers = {{"anthropic-version", "2023-06-01"}};
  anthropic.asks_for_stream_usage = false;  // it reports usage in its events unasked

  // Ollama's OpenAI layer takes a subset of the fields and needs no key.
  Dialect& ollama = add("ollama");
  ollama.auth_header.clear();
  ollama.renames = {{"max_completion_tokens", "max_tokens"}};
  ollama.drops = with(kOpenSourceSamplingFields, {"logit_bias", "logprobs", "top_logprobs", "user"});
  return presets;
}

Result<ContinuationStyle> parse_continuation(const std::string& text) {
  if (text == "assistant_prefill") return ContinuationStyle::assistant_prefill;
  if (text == "mistral_prefix") return ContinuationStyle::mistral_prefix;
  if (text == "vllm_continue_final") return ContinuationStyle::vllm_continue_final;
  return Error::invalid_request("unknown continuation '" + text + "'; expected assistant_prefill, mistral_prefix or vllm_continue_final",
                                "continuation");
}

Error definition_error(const std::string& dialect, const std::string& key, const std::string& expected) {
  return Error::invalid_request("dialect '" + dialect + "': '" + key + "' must be " + expected, "dialects." + dialect + "." + key);
}

}  // namespace

void Dialect::adapt(json& body) const {
  if (!keeps_routing_fields) {
    body.erase("models");
    body.erase("provider");
  }
  for (const std::string& field : drops) body.erase(field);
  for (const auto& [from, to] : renames) {
    auto at = body.find(from);
    if (at == body.end()) continue;
    json value = std::move(*at);
    body.erase(from);
    body[to] = std::move(value);
  }
}

void Dialect::ask_to_continue(json& body, const std::string& prefix) const {
  if (body.contains("prompt")) {  // a legacy completion continues its own prompt
    body["prompt"] = body["prompt"].get<std::string>() + prefix;
    return;
  }
  // Anthropic refuses a final assistant turn that ends in whitespace; the route writes it again.
  std::string text = wire == WireApi::anthropic_messages ? prefix.substr(0, prefix.find_last_not_of(" \t\r\n") + 1) : prefix;
  if (text.empty()) return;  // nothing to continue: the route starts afresh
  json message = {{"role", "assistant"}, {"content", text}};
  if (continuation == ContinuationStyle::mistral_prefix) message["prefix"] = true;
  body["messages"].push_back(std::move(message));
  if (continuation == ContinuationStyle::vllm_continue_final) {
    body["continue_final_message"] = true;
    body["add_generation_prompt"] = false;
  }
}

const std::vector<Dialect>& dialect_presets() {
  static const std::vector<Dialect> presets = make_presets();
  return presets;
}

DialectRegistry::DialectRegistry() {
  for (const Dialect& preset : dialect_presets()) dialects_[preset.name] = preset;
}

const Dialect* DialectRegistry::find(std::string_view name) const {
  auto at = dialects_.find(name);
  return at == dialects_.end() ? nullptr : &at->second;
}

Status DialectRegistry::define(const std::string& name, const json& definition) {
  if (!definition.is_object()) return definition_error(name, "", "an object");
  std::string base = definition.value("base", std::string("openai"));
  const Dialect* preset = find(base);
  if (!preset) return definition_error(name, "base", "a known dialect; got '" + base + "'");
  Dialect dialect = *preset;
  dialect.name = name;
  for (const auto& [key, value] : definition.items()) {
    if (key == "base") continue;
    if (key == "auth_header" || key == "auth_prefix") {
      if (!value.is_string()) return definition_error(name, key, "a string");
      (key == "auth_header" ? dialect.auth_header : dialect.auth_prefix) = value.get<std::string>();
    } else if (key == "headers" || key == "rename") {
      if (!value.is_object()) return definition_error(name, key, "an object of strings");
      auto& pairs = key == "headers" ? dialect.extra_headers : dialect.renames;
      for (const auto& [from, to] : value.items()) {
        if (!to.is_string()) return definition_error(name, key + "." + from, "a string");
        pairs.emplace_back(from, to.get<std::string>());
      }
    } else if (key == "drop") {
      if (!value.is_array()) return definition_error(name, key, "an array of field names");
      for (const json& field : value) {
        if (!field.is_string()) return definition_error(name, key, "an array of field names");
        dialect.drops.push_back(field.get<std::string>());
      }
    } else if (key == "keep_routing_fields" || key == "stream_usage") {
      if (!value.is_boolean()) return definition_error(name, key, "true or false");
      (key == "stream_usage" ? dialect.asks_for_stream_usage : dialect.keeps_routing_fields) = value.get<bool>();
    } else if (key == "continuation") {
      if (!value.is_string()) return definition_error(name, key, "a string");
      Result<ContinuationStyle> style = parse_continuation(value.get<std::string>());
      if (!style) return definition_error(name, key, "assistant_prefill, mistral_prefix or vllm_continue_final");
      dialect.continuation = *style;
    } else {
      return definition_error(name, key, "one of base, auth_header, auth_prefix, headers, rename, drop, keep_routing_fields, stream_usage, continuation (unknown key)");
    }
  }
  dialects_[name] = std::move(dialect);
  return Ok{};
}

}  // namespace mg
