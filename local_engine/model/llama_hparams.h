// The hyper-parameters of a `llama`-architecture GGUF file (Mistral 7B and Mixtral 8x7B are published
// under that architecture), read once from its metadata, validated, then immutable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "local_engine/gguf/gguf_file.h"

namespace mg::engine {

struct LlamaHyperParams {
  std::uint32_t n_vocab = 0;
  std::uint32_t n_ctx_train = 0;  // the context length the model was trained for
  std::uint32_t n_embd = 0;
  std::uint32_t n_layer = 0;
  std::uint32_t n_ff = 0;         // per expert, for a mixture of experts
  std::uint32_t n_head = 0;
  std::uint32_t n_head_kv = 0;    // grouped-query attention: n_head / n_head_kv query heads share a KV head
  std::uint32_t n_embd_head = 0;  // per head, for queries, keys and values
  std::uint32_t n_rot = 0;        // leading dimensions of each head that RoPE rotates
  std::uint32_t n_expert = 0;     // 0: a dense feed-forward
  std::uint32_t n_expert_used = 0;
  float rope_freq_base = 10000.0f;
  float rms_norm_eps = 1e-5f;
  std::optional<std::uint32_t> sliding_window;  // attend to at most this many positions back

  bool is_moe() const { return n_expert > 0; }
  std::uint32_t n_embd_kv() const { return n_head_kv * n_embd_head; }  // width of a layer's keys (and values)
  std::uint32_t n_embd_q() const { return n_head * n_embd_head; }
  std::string summary() const;  // one line for logs: "32 layers, 4096 wide, 32 heads (8 KV), 8 experts (2 used), ..."
};

// GgufError naming the key and the problem when the file is not a llama model or its numbers disagree.
LlamaHyperParams read_llama_hparams(const GgufFile& file);

}  // namespace mg::engine
