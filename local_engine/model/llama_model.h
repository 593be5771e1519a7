// The Mistral / Mixtral forward pass: token embeddings, then per layer RMSNorm, grouped-query attention
// with RoPE (sliding-window when the model declares it) over a KV cache, and a SwiGLU feed-forward (or,
// for Mixtral, the top-k of n_expert SwiGLU experts, weighted by a softmax over the chosen router
// logits), then a final RMSNorm and the output projection to logits.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

#include "local_engine/gguf/gguf_file.h"
#include "local_engine/kernels/quantized_dot.h"
#include "local_engine/kernels/thread_pool.h"
#include "local_engine/model/kv_cache.h"
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

// Rows of floats: n_rows vectors of `width` each, one per token of a batch.
class Rows {
 public:
  void resize(std::size_t n_rows, std::size_t width) {
    width_ = width;
    data_.assign(n_rows * width, 0.0f);
  }
  std::span<float> row(std::size_t r) { return {data_.data() + r * width_, width_}; }
  std::span<const float> row(std::size_t r) const { return {data_.data() + r * width_, width_}; }
  std::size_t width() const { return width_; }

 private:
  std::vector<float> data_;
  std::size_t width_ = 0;
};

// The KV pool has too few free blocks for what a forward pass was asked to feed.
class KvPoolExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Sees the input of every matrix product with quantized weights as the kernels take it (blocks of
// activation_type_for(w.type)), one token at a time: tests check the engine's rounding with it.
using ProductInputObserver = std::function<void(const WeightMatrix& w, std::uint32_t position, std::span<const std::byte> input)>;

// Tokens to feed one sequence in a forward pass.
struct SequenceStep {
  KvSequence* sequence;                  // fed at its next positions
  std::span<const std::int32_t> tokens;
  // Where the logits go: [n_vocab] for the last token, [n_tokens, n_vocab] with all_logits, or empty
  // when only the KV cache is wanted (a prompt's leading part).
  std::span<float> logits;
  bool all_logits = false;
};

// Runs the model over batches of rows taken from any sequences of one KV pool (continuous batching: the
// decode tokens of many requests and the prompt of a new one share a pass), so each weight row is read
// once per batch, not once per token or per sequence. Rows of one sequence see each other; rows of
// different sequences never do.
class LlamaForward {
 public:
  static constexpr std::uint32_t kMaxBatch = 128;

  // `n_threads`: the threads its matrix products run on, the caller's included.
  LlamaForward(std::shared_ptr<const LlamaModel> model, unsigned n_threads = 1);

  // Feeds every step (each to a different sequence). std::invalid_argument for a token outside the
  // vocabulary, std::length_error when a step does not fit its sequence's context, KvPoolExhausted when
  // the pool has too few free blocks; nothing is fed then.
  void evaluate(std::span<const SequenceStep> steps);

  const LlamaModel& model() const { return *model_; }
  unsigned n_threads() const { return pool_.size(); }
  void observe_product_inputs(ProductInputObserver observer) { observer_ = std::move(observer); }

 private:
  // One row of a batch: a token of some sequence at some position.
  struct Row {
    KvSequence* sequence;
    std::uint32_t position;
    float* logits;  // [n_vocab] where this row's logits go, or null
  };
  // One product Y = W X of several that share an input.
  struct Product {
    const WeightMatrix* weights;
    Rows* out;
  };
  static constexpr std::size_t kMaxProducts = 3;

  void check(std::span<const SequenceStep> steps) const;
  void reserve(std::span<const SequenceStep> steps);
  // Every product of X (up to kMaxProducts); `positions`: each row's position, for the observer.
  void multiply(std::initializer_list<Product> products, const Rows& x, std::span<const std::uint32_t> positions);
  std::array<ActivationColumns, kMaxProducts> quantize_inputs(std::initializer_list<Product> products, const Rows& x,
                                                              std::span<const std::uint32_t> positions);
  void forward_batch(std::span<const std::int32_t> tokens);
  void attention_block(const LayerWeights& layer, std::uint32_t layer_index, std::size_t n_tokens);
  void attend(const Row& row, std::uint32_t layer_index, std::uint32_t kv_head, std::span<const float> query_heads,
              std::span<float> out_heads, std::vector<float>& scores);
  void feed_forward_block(const LayerWeights& layer, std::size_t n_tokens);
  void mixture_of_experts(const LayerWeights& layer, std::size_t n_tokens);
  void expert(const ExpertWeights& weights, const Rows& input, std::span<const std::uint32_t> positions, Rows& output);
  void output_logits(std::size_t n_tokens);

  std::shared_ptr<const LlamaModel> model_;
  const LlamaHyperParams& p_;

  // The batch being evaluated.
  std::vector<Row> rows_;                 // [n_batch]
  std::vector<std::int32_t> tokens_;      // [n_batch]
  std::vector<std::uint32_t> positions_;  // [n_batch] each row's position in its sequence

  // Scratch for one batch.
  Rows x_;           // [n_batch, n_embd] the residual stream
  Rows normed_;      // [n_batch, n_embd]
  Rows q_;           // [n_batch, n_embd_q]
  Rows k_;           // [n_batch, n_embd_kv]
  Rows v_;           // [n_batch, n_embd_kv]
  Rows attended_;    // [n_batch, n_embd_q]
  Rows gate_;        // [n_batch, n_ff]
  Rows up_;          // [n_batch, n_ff]
  Rows ffn_out_;     // [n_batch, n_embd]
  Rows router_;      // [n_batch, n_expert]
  Rows expert_in_;   // [n_batch, n_embd] the tokens routed to one expert
  Rows expert_out_;  // [n_batch, n_embd]
  Rows logits_;      // [n_batch, n_vocab] (only as many rows as are wanted)
  Rows rotations_;                                 // [n_batch, n_rot] RoPE's cos and sin per pair at each position
  std::vector<std::uint32_t> expert_positions_;    // [n_batch] those of the tokens in expert_in_
  std::vector<std::vector<float>> thread_scores_;  // [n_threads][group * n_ctx] attention scores
  ThreadPool pool_;
  std::vector<std::byte> activations_;  // a matrix product's inputs, quantized for its weights' kernels
  ProductInputObserver observer_;
};

// One sequence on its own: a forward pass and a KV pool of exactly its context.
class LlamaSession {
 public:
  static constexpr std::uint32_t kMaxBatch = LlamaForward::kMaxBatch;

  // `n_ctx`: the most positions the session holds (0: the model's training context). `n_threads`: the
  // threads its matrix products run on, the caller's included.
  explicit LlamaSession(std::shared_ptr<const LlamaModel> model, std::uint32_t n_ctx = 0, unsigned n_threads = 1);

  // Feeds `tokens` at the next positions. Returns the logits of the last token ([n_vocab]), or with
  // `all_logits` those of every token ([n_tokens, n_vocab]). std::invalid_argument for a token outside
  // the vocabulary, std::length_error when the tokens would not fit in the context.
  std::vector<float> evaluate(std::span<const std::int32_t> tokens, bool all_logits = false);

  std::uint32_t n_past() const { return sequence_.n_past(); }
  std::uint32_t n_ctx() const { return sequence_.n_ctx(); }
  void reset() { sequence_.clear(); }
  void observe_product_inputs(ProductInputObserver observer) { forward_.observe_product_inputs(std::move(observer)); }

 private:
  LlamaForward forward_;
  KvBlockPool kv_pool_;
  KvSequence sequence_;
};

}  // namespace mg::engine
