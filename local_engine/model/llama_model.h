// The Mistral / Mixtral forward pass: token embeddings, then per layer RMSNorm, grouped-query attention
// with RoPE (sliding-window when the model declares it) over a KV cache, and a SwiGLU feed-forward (or,
// for Mixtral, the top-k of n_expert SwiGLU experts, weighted by a softmax over the chosen router
// logits), then a final RMSNorm and the output projection to logits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "local_engine/gguf/gguf_file.h"
#include "local_engine/model/llama_hparams.h"
#include "local_engine/model/llama_weights.h"

namespace mg::engine {

class LlamaModel {
 public:
  // GgufError when the file cannot be read or is not a model the engine can run.
  static std::shared_ptr<const LlamaModel> load(const std::filesystem::path& path);
  explicit LlamaModel(GgufFile file);

  const GgufFile& file() const { return file_; }
  const LlamaHyperParams& hparams() const { return hparams_; }
  const LlamaWeights& weights() const { return weights_; }

 private:
  GgufFile file_;
  LlamaHyperParams hparams_;
  LlamaWeights weights_;
};

// One sequence being evaluated: its position and its KV cache.
class LlamaSession {
 public:
  // `n_ctx`: the most positions the session holds (0: the model's training context).
  explicit LlamaSession(std::shared_ptr<const LlamaModel> model, std::uint32_t n_ctx = 0);

  // Feeds `tokens` at the next positions. Returns the logits of the last token ([n_vocab]), or with
  // `all_logits` those of every token ([n_tokens, n_vocab]). std::invalid_argument for a token outside
  // the vocabulary, std::length_error when the tokens would not fit in the context.
  std::vector<float> evaluate(std::span<const std::int32_t> tokens, bool all_logits = false);

  std::uint32_t n_past() const { return n_past_; }
  std::uint32_t n_ctx() const { return n_ctx_; }
  void reset() { n_past_ = 0; }

 private:
  void forward_token(std::int32_t token, std::uint32_t position, float* logits);
  void attention_block(const LayerWeights& layer, std::uint32_t layer_index, std::uint32_t position);
  void feed_forward_block(const LayerWeights& layer);
  void expert(const ExpertWeights& weights, std::span<const float> input, std::span<float> output);

  std::shared_ptr<const LlamaModel> model_;
  const LlamaHyperParams& p_;
  std::uint32_t n_ctx_;
  std::uint32_t n_past_ = 0;

  std::vector<float> k_cache_;  // [n_layer, n_ctx, n_embd_kv]
  std::vector<float> v_cache_;  // [n_layer, n_ctx, n_embd_kv]

  // Scratch for one token.
  std::vector<float> x_;         // [n_embd] the residual stream
  std::vector<float> normed_;    // [n_embd]
  std::vector<float> q_;         // [n_embd_q]
  std::vector<float> attended_;  // [n_embd_q]
  std::vector<float> scores_;    // [n_ctx]
  std::vector<float> gate_;      // [n_ff]
  std::vector<float> up_;        // [n_ff]
  std::vector<float> ffn_out_;   // [n_embd]
  std::vector<float> expert_out_;  // [n_embd]
  std::vector<float> router_;    // [n_expert]
  std::vector<float> row_;       // [max n_cols] a dequantized weight row
};

}  // namespace mg::engine
