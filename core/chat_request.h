// The canonical, typed form of an OpenAI / OpenRouter chat request. The gateway parses the wire JSON into
// this once; routers and providers read only this. Fields the gateway does not model are kept verbatim in
// `passthrough` so they still reach the upstream.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mg {

enum class Role { system, developer, user, assistant, tool };
const char* to_string(Role role);

// What the request asks for: a chat answer, a text completion, or embeddings (the upstream endpoint it
// takes, and the answer's events).
enum class ApiFlavor { chat, completion, embedding };

// The most choices (`n`) a request may ask for: every choice index in an answer is below it.
inline constexpr int kMaxChoices = 128;

struct ContentPart {
  std::string type;    // "text", "image_url", "input_audio", "file", ...
  std::string text;    // for type == "text"
  nlohmann::json raw;  // the whole part as sent, so non-text parts pass through untouched
};

struct ToolCall {
  std::string id;
  std::string type = "function";
  std::string name;
  std::string arguments;  // JSON text, as OpenAI sends it
};

struct Message {
  Role role = Role::user;
  std::optional<std::string> content;     // string content; nullopt when absent, null or given as parts
  std::vector<ContentPart> content_parts;  // array content
  std::string name;
  std::vector<ToolCall> tool_calls;  // assistant messages
  std::string tool_call_id;          // tool messages
  bool tool_error = false;           // a tool message reporting that the tool failed (Anthropic's is_error)
  nlohmann::json extra = nlohmann::json::object();  // unmodelled message fields (e.g. "refusal", "prefix")

  // The message's text: the string content, or its text parts joined.
  std::string text() const;
};

struct Tool {
  std::string type = "function";
  std::string name;
  std::string description;
  nlohmann::json parameters;  // JSON Schema, null when absent
  std::optional<bool> strict;
};

struct ToolChoice {
  enum class Mode { none, automatic, required, function };
  Mode mode = Mode::automatic;
  std::string function_name;  // mode == function
};

struct ResponseFormat {
  enum class Type { text, json_object, json_schema };
  Type type = Type::text;
  std::string schema_name;  // json_schema only
  nlohmann::json schema;    // json_schema only
  std::optional<bool> strict;
};

// Percentile thresholds as OpenRouter accepts them: a plain number, or {p50, p75, p90, p99}.
struct PercentileThreshold {
  std::optional<double> p50, p75, p90, p99;
};

// OpenRouter's `provider` object.
struct ProviderPreferences {
  std::vector<std::string> order;
  std::vector<std::string> only;
  std::vector<std::string> ignore;
  bool allow_fallbacks = true;
  std::optional<std::string> sort;  // "price", "throughput", "latency"
  std::optional<double> max_price_prompt_usd_per_mtok;
  std::optional<double> max_price_completion_usd_per_mtok;
  bool require_parameters = false;
  std::optional<PercentileThreshold> preferred_min_throughput;
  std::optional<PercentileThreshold> preferred_max_latency;
  nlohmann::json extra = nlohmann::json::object();  // other provider fields, passed on
};

struct SamplingParams {
  std::optional<double> temperature;  // [0, 2]
  std::optional<double> top_p;        // (0, 1]
  std::optional<int> top_k;           // >= 0
  std::optional<double> min_p;        // [0, 1]
  std::optional<double> frequency_penalty;   // [-2, 2]
  std::optional<double> presence_penalty;    // [-2, 2]
  std::optional<double> repetition_penalty;  // (0, 2]
  std::optional<std::int64_t> seed;
  std::map<std::int64_t, double> logit_bias;  // token id -> bias in [-100, 100]
  bool logprobs = false;
  std::optional<int> top_logprobs;  // [0, 20], needs logprobs
};

// What an embedding request embeds: strings, or texts already tokenised (arrays of token ids), never
// both. `batch`: they came as an array of inputs rather than one alone, and go upstream so.
struct EmbeddingInput {
  std::vector<std::string> texts;
  std::vector<std::vector<std::int64_t>> token_arrays;
  bool batch = false;

  std::size_t count() const { return texts.empty() ? token_arrays.size() : texts.size(); }
};

// How an embedding answer carries its vectors: JSON numbers, or little-endian float32 in base64.
enum class EmbeddingEncoding { float_array, base64 };

struct ChatRequest {
  ApiFlavor flavor = ApiFlavor::chat;
  std::string model;
  std::vector<std::string> fallback_models;  // OpenRouter `models`
  std::vector<Message> messages;             // chat flavor
  std::string prompt;                        // completion flavor
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int n = 1;
  std::vector<std::string> stop;
  std::optional<int> max_tokens;  // max_tokens or max_completion_tokens, whichever was sent
  bool max_tokens_sent_as_max_completion_tokens = false;
  SamplingParams sampling;
  std::vector<Tool> tools;
  std::optional<ToolChoice> tool_choice;
  std::optional<bool> parallel_tool_calls;
  std::optional<ResponseFormat> response_format;
  std::optional<ProviderPreferences> provider;
  std::string user;
  nlohmann::json passthrough = nlohmann::json::object();  // unknown top-level fields, passed upstream as sent
  bool resume_stream = false;  // modelgate.resume: a broken stream continues on the next route
  // Set by the gateway when resuming: the assistant text already streamed, for the route to continue.
  std::string continuation_prefix;
  // Embedding flavor: the inputs, the encoding asked for (nullopt: not sent, float by default) and the
  // vector size, where the route can shorten its vectors.
  EmbeddingInput embedding_input;
  std::optional<EmbeddingEncoding> embedding_encoding;
  std::optional<int> dimensions;

  // The chain of model ids the caller accepts, in order: `model` then `models`, without repeats.
  std::vector<std::string> requested_models() const;

  // A cheap estimate (about four characters a token): for context fit, expected cost, and usage when an
  // upstream reports none.
  std::int64_t estimated_prompt_tokens() const;
  // The context a route needs, estimated: the prompt and max_tokens of an answer, or the longest input
  // of an embedding batch (each input is embedded on its own).
  std::int64_t estimated_context_need() const;
};

}  // namespace mg
