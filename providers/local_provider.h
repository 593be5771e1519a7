// The built-in CPU engine as a provider: the last route of every chain that lists it, answering through
// the same ChatEvents as a remote upstream, so a fallback to it is invisible to the client. Requests go
// to the engine's scheduler (serving/), which runs on threads of its own, never on the network threads:
// chat messages become Mistral prompt ids through the model's chat template, the sampled text streams
// back as TextDelta events, [TOOL_CALLS] output becomes ToolCallDelta events, response_format json_object
// and json_schema are enforced by constrained decoding, and usage is exact.
#pragma once

#include <memory>
#include <string>

#include "local_engine/chat/mistral_chat_template.h"
#include "local_engine/sampling/json_grammar.h"
#include "local_engine/serving/serving_engine.h"
#include "providers/provider.h"

namespace mg {

struct LocalProviderOptions {
  std::string name = "local";  // the provider part of the route's name
  std::string model_id;        // the id clients ask for
  double usd_per_mtok_input = 0;
  double usd_per_mtok_output = 0;
  int queue_full_retry_after_s = 1;
  bool demo = false;  // the synthetic demo model: its answers are noise, and /v1/models says so
};

class LocalProvider final : public Provider, public TokenCounter {
 public:
  static constexpr const char* kDemoModelId = "modelgate-demo";

  // Loads the GGUF file at `model_path` (or, for '', writes and loads a tiny synthetic demo model with
  // random weights) and starts its scheduler. An empty model_id takes the file's name without ".gguf".
  // Throws GgufError for a file the engine cannot run, std::invalid_argument for a bad setting.
  static std::shared_ptr<LocalProvider> start(const std::string& model_path, const engine::ServingOptions& serving, LocalProviderOptions options);

  // std::invalid_argument when the model's vocabulary fits no Mistral chat template.
  LocalProvider(std::shared_ptr<engine::ServingEngine> serving, LocalProviderOptions options);

  const std::string& name() const override { return options_.name; }
  std::vector<ModelOffer> models() const override;
  void chat_stream(std::shared_ptr<const ChatRequest> request, const std::string& model_id, const RequestContext& context,
                   EventSink sink) override;

  Result<std::int64_t> count_prompt_tokens(const ChatRequest& request) const override;

  engine::ServingEngine& serving() { return *serving_; }
  const engine::ServingEngine& serving() const { return *serving_; }
  bool is_demo() const { return options_.demo; }
  engine::MistralTemplateVersion template_version() const { return template_; }

 private:
  Result<std::vector<std::int32_t>> prompt_tokens(const ChatRequest& request) const;
  Result<std::shared_ptr<engine::ServingRequest>> serving_request(const ChatRequest& request) const;
  std::unique_ptr<engine::TokenConstraint> constraint_for(const ChatRequest& request) const;

  std::shared_ptr<engine::ServingEngine> serving_;
  LocalProviderOptions options_;
  engine::MistralTemplateVersion template_;
  std::shared_ptr<const engine::TokenTrie> token_trie_;  // the vocabulary for constrained decoding, built once
};

}  // namespace mg
