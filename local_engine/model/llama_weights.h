// The weights of a llama-architecture model (Mistral, Mixtral), found by their GGUF names, checked
// against the hyper-parameters, and used in place in the mapped file: a matrix is a pointer, a type and
// a shape, never a copy. Only the small norm vectors are converted to F32 at load.
#pragma once

#include <cstdint>
#include <vector>

#include "local_engine/gguf/gguf_file.h"
#include "local_engine/model/llama_hparams.h"

namespace mg::engine {

// A matrix of n_rows rows of n_cols elements each, as ggml stores it: a GGUF tensor of shape
// [n_cols, n_rows] (ne0 = n_cols). As a layer it maps n_cols inputs to n_rows outputs.
struct WeightMatrix {
  const GgufTensorInfo* tensor = nullptr;  // the tensor it is in
  std::uint64_t slab = 0;                  // which matrix of that tensor (a Mixtral expert's index; else 0)
  const std::byte* data = nullptr;
  GgmlType type = GgmlType::f32;
  std::uint64_t n_cols = 0;
  std::uint64_t n_rows = 0;
  std::uint64_t row_bytes = 0;

  const std::byte* row(std::uint64_t r) const { return data + r * row_bytes; }
};

struct ExpertWeights {
  WeightMatrix gate;  // [n_embd -> n_ff]
  WeightMatrix up;    // [n_embd -> n_ff]
  WeightMatrix down;  // [n_ff -> n_embd]
};

struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]
  WeightMatrix wq;               // [n_embd -> n_embd_q]
  WeightMatrix wk;               // [n_embd -> n_embd_kv]
  WeightMatrix wv;               // [n_embd -> n_embd_kv]
  WeightMatrix wo;               // [n_embd_q -> n_embd]
  std::vector<float> ffn_norm;   // [n_embd]
  ExpertWeights ffn;             // dense models only
  WeightMatrix ffn_gate_inp;     // [n_embd -> n_expert], the router; mixtures of experts only
  std::vector<ExpertWeights> experts;  // [n_expert]
};

struct LlamaWeights {
  WeightMatrix token_embd;         // [n_embd, n_vocab]: row t is token t's embedding
  std::vector<float> output_norm;  // [n_embd]
  WeightMatrix output;             // [n_embd -> n_vocab]; the embeddings again when the file ties them
  std::vector<LayerWeights> layers;
};

// GgufError naming the tensor when one is missing, has the wrong shape, or a type the engine cannot use.
// Mixtral's experts may be merged 3-D tensors (ffn_gate_exps, ...) or one tensor per expert
// (ffn_gate.0, ...), as older converters wrote them.
LlamaWeights map_llama_weights(const GgufFile& file, const LlamaHyperParams& hparams);

}  // namespace mg::engine
