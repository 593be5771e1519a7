#include "providers/local_provider.h"

#include <cctype>
#include <limits>
#include <mutex>
#include <random>

#include <unistd.h>

#include <filesystem>

#include "local_engine/chat/mistral_tool_call_parser.h"
#include "local_engine/model/synthetic_model.h"

namespace mg {
namespace {

// The route cannot serve this request, but another might: the router moves on (or, this being the last
// route, the client learns why).
Error cannot_serve(std::string message) {
  return Error{422, FailureClass::unsupported, "invalid_request_error", "unsupported_by_local_engine", {}, "local engine: " + std::move(message), 0};
}

bool is_mistral_call_id(std::string_view id) {
  if (id.size() != 9) return false;
  for (unsigned char c : id) {
    if (!std::isalnum(c)) return false;
  }
  return true;
}

// v3 prompts carry 9-character call ids; OpenAI clients send their own ("call_..."). A foreign id maps to
// one derived from it, the same for the assistant's call and the tool's result that answers it.
std::string mistral_call_id_for(const std::string& id) {
  if (id.empty() || is_mistral_call_id(id)) return id;
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : id) hash = (hash ^ c) * 1099511628211ull;
  return engine::mistral_tool_call_id(hash);
}

engine::ChatRole chat_role(Role role) {
  switch (role) {
    case Role::system:
    case Role::developer: return engine::ChatRole::system;
    case Role::user: return engine::ChatRole::user;
    case Role::assistant: return engine::ChatRole::assistant;
    case Role::tool: return engine::ChatRole::tool;
  }
  return engine::ChatRole::user;
}

Result<engine::ChatConversation> conversation_from(const ChatRequest& request) {
  engine::ChatConversation conversation;
  for (const Message& message : request.messages) {
    for (const ContentPart& part : message.content_parts) {
      if (part.type != "text") return cannot_serve("it reads text only; a message has a '" + part.type + "' part");
    }
    engine::ChatMessage out;
    out.role = chat_role(message.role);
    out.content = message.text();
    for (const ToolCall& call : message.tool_calls) out.tool_calls.push_back({mistral_call_id_for(call.id), call.name, call.arguments});
    out.tool_call_id = mistral_call_id_for(message.tool_call_id);
    if (message.role == Role::tool) out.name = message.name;
    conversation.messages.push_back(std::move(out));
  }
  if (!request.continuation_prefix.empty()) {
    conversation.messages.push_back(engine::ChatMessage{engine::ChatRole::assistant, request.continuation_prefix, {}, {}, {}, true});
  }
  if (!request.tool_choice || request.tool_choice->mode != ToolChoice::Mode::none) {
    for (const Tool& tool : request.tools) {
      conversation.tools.push_back({tool.name, tool.description, tool.parameters.is_null() ? std::string() : tool.parameters.dump()});
    }
  }
  return conversation;
}

engine::SamplingParams sampling_from(const ChatRequest& request, std::uint32_t n_vocab) {
  const SamplingParams& in = request.sampling;
  engine::SamplingParams out;
  out.temperature = static_cast<float>(in.temperature.value_or(1.0));
  out.top_k = static_cast<std::uint32_t>(in.top_k.value_or(0));
  out.top_p = static_cast<float>(in.top_p.value_or(1.0));
  out.min_p = static_cast<float>(in.min_p.value_or(0.0));
  out.repetition_penalty = static_cast<float>(in.repetition_penalty.value_or(1.0));
  out.frequency_penalty = static_cast<float>(in.frequency_penalty.value_or(0.0));
  out.presence_penalty = static_cast<float>(in.presence_penalty.value_or(0.0));
  if (in.seed) out.seed = static_cast<std::uint64_t>(*in.seed);
  for (auto [token, bias] : in.logit_bias) {
    if (token >= 0 && token < n_vocab) out.logit_bias[static_cast<std::int32_t>(token)] = static_cast<float>(bias);
  }
  return out;
}

// The grammar a response_format asks for. std::invalid_argument for a schema it cannot enforce.
std::shared_ptr<const engine::JsonGrammar> json_grammar_for(const ResponseFormat& format) {
  if (format.type == ResponseFormat::Type::json_object) return engine::JsonGrammar::any_object();
  return engine::JsonGrammar::from_schema(format.schema.dump());
}

FinishReason finish_reason_of(const std::string& engine_reason) {
  return engine_reason == "length" ? FinishReason::length : FinishReason::stop;
}

// One answer on its way from the scheduler's thread to the exchange: text until the model writes
// [TOOL_CALLS], then tool calls parsed from the whole output at its end.
class LocalAnswer {
 public:
  LocalAnswer(const engine::Engine& engine, EventSink sink, CancellationToken cancellation)
      : engine_(engine), tool_calls_id_(engine.tokenizer().find("[TOOL_CALLS]")), sink_(std::move(sink)),
        cancellation_(std::move(cancellation)) {}

  bool on_piece(const engine::GeneratedPiece& piece) {
    if (piece.token) {
      generated_.push_back(piece.token->token);
      if (tool_calls_id_ >= 0 && piece.token->token == tool_calls_id_) in_tool_calls_ = true;
    }
    if (!in_tool_calls_ && !piece.text.empty()) sink_(TextDelta{0, std::string(piece.text)});
    return !cancellation_.cancelled();
  }

  void on_done(const engine::ServingResult& result) {
    if (result.finish_reason == "cancelled") {
      return sink_(StreamFailed{Error::cancelled(result.error.empty() ? "the request was cancelled" : "local engine: " + result.error)});
    }
    if (result.finish_reason == "error") {
      return sink_(StreamFailed{Error{500, FailureClass::transient, "server_error", "local_engine_error", {}, result.error, 0}});
    }
    FinishReason reason = finish_reason_of(result.finish_reason);
    if (in_tool_calls_) reason = emit_tool_calls(reason);
    sink_(ChoiceFinished{0, reason, result.finish_reason, reason == FinishReason::stop ? result.stop_sequence : std::string()});
    sink_(UsageReport{result.prompt_tokens, result.completion_tokens, result.cached_prompt_tokens});
    sink_(StreamDone{});
  }

 private:
  FinishReason emit_tool_calls(FinishReason reason) {
    thread_local std::mt19937_64 random{std::random_device{}()};
    engine::MistralAssistantOutput output =
        engine::parse_mistral_output(engine_.tokenizer(), generated_, [] { return engine::mistral_tool_call_id(random()); });
    if (output.tool_calls.empty()) {  // not a list of calls after all: what it wrote is the answer
      if (!output.tool_call_text.empty()) sink_(TextDelta{0, output.tool_call_text});
      return reason;
    }
    for (std::size_t i = 0; i < output.tool_calls.size(); ++i) {
      const engine::ChatToolCall& call = output.tool_calls[i];
      sink_(ToolCallDelta{0, static_cast<int>(i), call.id, call.name, call.arguments});
    }
    return FinishReason::tool_calls;
  }

  const engine::Engine& engine_;
  const std::int32_t tool_calls_id_;  // -1 for a v1 vocabulary
  EventSink sink_;
  CancellationToken cancellation_;
  std::vector<std::int32_t> generated_;
  bool in_tool_calls_ = false;
};

}  // namespace

// The demo model is written to a temporary file and removed once mapped: the mapping keeps its bytes.
std::shared_ptr<const engine::Engine> load_demo_engine() {
  auto path = std::filesystem::temp_directory_path() / ("modelgate-demo-" + std::to_string(::getpid()) + ".gguf");
  engine::SyntheticModelSpec spec = engine::synthetic_preset("tiny-mistral");
  spec.name = LocalProvider::kDemoModelId;
  spec.file_type = "Q8_0";
  engine::synthetic_model_writer(spec).write(path);
  auto engine = engine::Engine::load(path);
  std::filesystem::remove(path);
  return engine;
}

std::shared_ptr<LocalProvider> LocalProvider::start(const std::string& model_path, const engine::ServingOptions& serving, LocalProviderOptions options) {
  options.demo = model_path.empty();
  auto engine = options.demo ? load_demo_engine() : engine::Engine::load(model_path);
  if (options.model_id.empty()) options.model_id = options.demo ? kDemoModelId : std::filesystem::path(model_path).stem().string();
  return std::make_shared<LocalProvider>(std::make_shared<engine::ServingEngine>(std::move(engine), serving), std::move(options));
}

LocalProvider::LocalProvider(std::shared_ptr<engine::ServingEngine> serving, LocalProviderOptions options)
    : serving_(std::move(serving)), options_(std::move(options)),
      template_(engine::select_template(serving_->engine().tokenizer(), serving_->engine().model()->file().get_string("tokenizer.chat_template"))),
      token_trie_(std::make_shared<const engine::TokenTrie>(serving_->engine().tokenizer())) {}

std::vector<ModelOffer> LocalProvider::models() const {
  ModelOffer offer;
  offer.model_id = options_.model_id;
  offer.upstream_model_id = options_.model_id;
  offer.usd_per_mtok_input = options_.usd_per_mtok_input;
  offer.usd_per_mtok_output = options_.usd_per_mtok_output;
  offer.context_length = static_cast<int>(serving_->n_ctx());
  offer.supports_tools = template_ != engine::MistralTemplateVersion::v1;
  offer.supports_json = true;  // enforced by constrained decoding
  offer.last_resort = true;
  if (options_.demo) offer.description = "a tiny synthetic demo model with random weights: its answers are noise (start with --local-model FILE.gguf)";
  return {offer};
}

// The prompt as the model reads it: the raw prompt's tokens, or the messages through the chat template.
Result<std::vector<std::int32_t>> LocalProvider::prompt_tokens(const ChatRequest& request) const {
  const engine::Engine& engine = serving_->engine();
  try {
    if (request.flavor == ApiFlavor::completion) return engine.tokenizer().encode(request.prompt, true);
    Result<engine::ChatConversation> conversation = conversation_from(request);
    if (!conversation) return conversation.error();
    return engine::build_mistral_prompt(engine.tokenizer(), template_, *conversation);
  } catch (const std::invalid_argument& e) {  // what the chat template cannot express or refuses
    return Error::invalid_request(std::string("local engine: ") + e.what(), "messages");
  } catch (const std::length_error& e) {
    return Error::invalid_request(std::string("local engine: ") + e.what(), "messages");
  }
}

Result<std::int64_t> LocalProvider::count_prompt_tokens(const ChatRequest& request) const {
  Result<std::vector<std::int32_t>> tokens = prompt_tokens(request);
  if (!tokens) return tokens.error();
  return static_cast<std::int64_t>(tokens->size());
}

Result<std::shared_ptr<engine::ServingRequest>> LocalProvider::serving_request(const ChatRequest& request) const {
  if (request.flavor == ApiFlavor::embedding) {
    return Error::invalid_request("local engine: it serves no embeddings; ask an embedding model", "model", "embeddings_not_supported");
  }
  if (request.n != 1) return cannot_serve("it answers one choice at a time (n = 1)");
  const engine::Engine& engine = serving_->engine();
  auto serving = std::make_shared<engine::ServingRequest>();
  engine::GenerationRequest& generation = serving->generation;
  Result<std::vector<std::int32_t>> prompt = prompt_tokens(request);
  if (!prompt) return prompt.error();
  generation.prompt = std::move(prompt).value();
  try {
    serving->constraint = constraint_for(request);
  } catch (const std::invalid_argument& e) {  // a schema it cannot enforce: never answered unconstrained
    return cannot_serve(e.what());
  }
  generation.sampling = sampling_from(request, engine.model()->hparams().n_vocab);
  generation.max_tokens = request.max_tokens ? static_cast<std::uint32_t>(*request.max_tokens) : serving_->n_ctx();
  generation.stop = request.stop;
  return serving;
}

// A forced tool call (tool_choice "required" or a named function) is [TOOL_CALLS] and then a call list
// whose names and arguments the tools' schemas allow; otherwise response_format's JSON, if asked for.
std::unique_ptr<engine::TokenConstraint> LocalProvider::constraint_for(const ChatRequest& request) const {
  const engine::SentencePieceTokenizer& tokenizer = serving_->engine().tokenizer();
  const bool forced = request.tool_choice && (request.tool_choice->mode == ToolChoice::Mode::required ||
                                              request.tool_choice->mode == ToolChoice::Mode::function);
  if (forced && !request.tools.empty() && template_ != engine::MistralTemplateVersion::v1) {
    std::vector<engine::JsonGrammar::ToolSchema> tools;
    for (const Tool& tool : request.tools) {
      if (request.tool_choice->mode == ToolChoice::Mode::function && tool.name != request.tool_choice->function_name) continue;
      tools.push_back({tool.name, tool.parameters.is_null() ? std::string() : tool.parameters.dump()});
    }
    if (tools.empty()) throw std::invalid_argument("tool_choice names '" + request.tool_choice->function_name + "', which is not among the tools");
    const bool parallel = request.parallel_tool_calls.value_or(true) && request.tool_choice->mode == ToolChoice::Mode::required;
    auto calls = std::make_unique<engine::JsonConstraint>(engine::JsonGrammar::tool_calls(tools, parallel ? 4 : 1), token_trie_, tokenizer);
    return std::make_unique<engine::PrefixedConstraint>(tokenizer.find("[TOOL_CALLS]"), std::move(calls));
  }
  if (request.response_format && request.response_format->type != ResponseFormat::Type::text) {
    return std::make_unique<engine::JsonConstraint>(json_grammar_for(*request.response_format), token_trie_, tokenizer);
  }
  return nullptr;
}

void LocalProvider::chat_stream(std::shared_ptr<const ChatRequest> request, const std::string& /*model_id*/, const RequestContext& context,
                                EventSink sink) {
  Result<std::shared_ptr<engine::ServingRequest>> prepared = serving_request(*request);
  if (!prepared) return sink(StreamFailed{prepared.error()});
  std::shared_ptr<engine::ServingRequest> serving = std::move(prepared).value();
  auto answer = std::make_shared<LocalAnswer>(serving_->engine(), sink, context.cancellation);
  serving->deadline = context.deadline;
  serving->on_piece = [answer](const engine::GeneratedPiece& piece) { return answer->on_piece(piece); };
  serving->on_done = [answer](const engine::ServingResult& result) { answer->on_done(result); };
  std::weak_ptr<engine::ServingRequest> weak = serving;
  context.cancellation.on_cancel([weak] {
    if (auto alive = weak.lock()) alive->cancelled = true;
  });
  const std::size_t prompt_tokens = serving->generation.prompt.size();
  switch (serving_->submit(std::move(serving))) {
    case engine::ServingEngine::Admission::accepted: return;
    case engine::ServingEngine::Admission::queue_full: {
      Error busy = Error::unavailable("local engine: its queue is full; retry shortly", options_.queue_full_retry_after_s);
      busy.failure = FailureClass::rate_limit;
      busy.code = "local_engine_busy";
      return sink(StreamFailed{busy});
    }
    case engine::ServingEngine::Admission::too_long:
      return sink(StreamFailed{Error::invalid_request("local engine: the prompt's " + std::to_string(prompt_tokens) + " tokens exceed its context of " +
                                                          std::to_string(serving_->n_ctx()),
                                                      "messages", "context_length_exceeded")});
  }
}

}  // namespace mg
