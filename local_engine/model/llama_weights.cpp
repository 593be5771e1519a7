#include "local_engine/model/llama_weights.h"

#include "local_engine/kernels/dequantize.h"

namespace mg::engine {
namespace {

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  GgufTensorInfo info;
  info.shape = shape;
  return info.shape_text();
}

class TensorFinder {
 public:
  explicit TensorFinder(const GgufFile& file) : file_(file) {}

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

  const GgufTensorInfo& get(const std::string& name, const std::vector<std::uint64_t>& expected_shape) const {
    const GgufTensorInfo* tensor = file_.find_tensor(name);
    if (!tensor) throw GgufError(file_.name() + ": tensor '" + name + "' is missing");
    if (tensor->shape != expected_shape) {
      throw GgufError(file_.name() + ": tensor '" + name + "' has shape " + tensor->shape_text() + "; expected " + shape_text(expected_shape));
    }
    if (!traits_of(tensor->type).weights_supported) {
      throw GgufError(file_.name() + ": tensor '" + name + "' has type " + std::string(traits_of(tensor->type).name) +
                      ", which the engine cannot compute with (it reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q2_K to Q6_K)");
    }
    return *tensor;
  }

  WeightMatrix matrix(const std::string& name, std::uint64_t n_cols, std::uint64_t n_rows) const {
    return slab(get(name, {n_cols, n_rows}), n_cols, n_rows, 0);
  }

  // The index-th [n_cols, n_rows] matrix of a tensor that stacks them (a 2-D tensor is its own slab 0).
  WeightMatrix slab(const GgufTensorInfo& tensor, std::uint64_t n_cols, std::uint64_t n_rows, std::uint64_t index) const {
    WeightMatrix matrix;
    matrix.tensor = &tensor;
    matrix.slab = index;
    matrix.type = tensor.type;
    matrix.n_cols = n_cols;
    matrix.n_rows = n_rows;
    matrix.row_bytes = *ggml_bytes(tensor.type, n_cols);  // whole blocks: checked when the file was read
    matrix.data = file_.tensor_bytes(tensor).data() + index * n_rows * matrix.row_bytes;
    return matrix;
  }

  std::vector<float> vector(const std::string& name, std::uint64_t n) const {
    const GgufTensorInfo& tensor = get(name, {n});
    std::vector<float> out(n);
    dequantize_row(tensor.type, file_.tensor_bytes(tensor).data(), out.data(), n);
    return out;
  }

 private:
  const GgufFile& file_;
};

std::vector<ExpertWeights> map_experts(const TensorFinder& tensors, const std::string& prefix, const LlamaHyperParams& p) {
  std::vector<ExpertWeights> experts(p.n_expert);
  if (tensors.has(prefix + "ffn_gate_exps.weight")) {
    const GgufTensorInfo& gate = tensors.get(prefix + "ffn_gate_exps.weight", {p.n_embd, p.n_ff, p.n_expert});
    const GgufTensorInfo& up = tensors.get(prefix + "ffn_up_exps.weight", {p.n_embd, p.n_ff, p.n_expert});
    const GgufTensorInfo& down = tensors.get(prefix + "ffn_down_exps.weight", {p.n_ff, p.n_embd, p.n_expert});
    for (std::uint32_t e = 0; e < p.n_expert; ++e) {
      experts[e] = {tensors.slab(gate, p.n_embd, p.n_ff, e), tensors.slab(up, p.n_embd, p.n_ff, e), tensors.slab(down, p.n_ff, p.n_embd, e)};
    }
    return experts;
  }
  for (std::uint32_t e = 0; e < p.n_expert; ++e) {
    std::string index = "." + std::to_string(e) + ".weight";
    experts[e] = {tensors.matrix(prefix + "ffn_gate" + index, p.n_embd, p.n_ff), tensors.matrix(prefix + "ffn_up" + index, p.n_embd, p.n_ff),
                  tensors.matrix(prefix + "ffn_down" + index, p.n_ff, p.n_embd)};
  }
  return experts;
}

LayerWeights map_layer(const TensorFinder& tensors, std::uint32_t layer, const LlamaHyperParams& p) {
  std::string prefix = "blk." + std::to_string(layer) + ".";
  LayerWeights weights;
  weights.attn_norm = tensors.vector(prefix + "attn_norm.weight", p.n_embd);
  weights.wq = tensors.matrix(prefix + "attn_q.weight", p.n_embd, p.n_embd_q());
  weights.wk = tensors.matrix(prefix + "attn_k.weight", p.n_embd, p.n_embd_kv());
  weights.wv = tensors.matrix(prefix + "attn_v.weight", p.n_embd, p.n_embd_kv());
  weights.wo = tensors.matrix(prefix + "attn_output.weight", p.n_embd_q(), p.n_embd);
  weights.ffn_norm = tensors.vector(prefix + "ffn_norm.weight", p.n_embd);
  if (p.is_moe()) {
    weights.ffn_gate_inp = tensors.matrix(prefix + "ffn_gate_inp.weight", p.n_embd, p.n_expert);
    weights.experts = map_experts(tensors, prefix, p);
  } else {
    weights.ffn = {tensors.matrix(prefix + "ffn_gate.weight", p.n_embd, p.n_ff), tensors.matrix(prefix + "ffn_up.weight", p.n_embd, p.n_ff),
                   tensors.matrix(prefix + "ffn_down.weight", p.n_ff, p.n_embd)};
  }
  return weights;
}

}  // namespace

LlamaWeights map_llama_weights(const GgufFile& file, const LlamaHyperParams& p) {
  TensorFinder tensors(file);
  LlamaWeights weights;
  weights.token_embd = tensors.matrix("token_embd.weight", p.n_embd, p.n_vocab);
  weights.output_norm = tensors.vector("output_norm.weight", p.n_embd);
  weights.output = tensors.has("output.weight") ? tensors.matrix("output.weight", p.n_embd, p.n_vocab) : weights.token_embd;
  // Every layer has tensors of its own, so a layer count past the tensor count is a corrupt file, refused
  // before it sizes anything (llama.block_count is a uint32 straight from the file).
  if (p.n_layer > file.tensors().size()) {
    throw GgufError(file.name() + ": llama.block_count is " + std::to_string(p.n_layer) + ", but the file has only " +
                    std::to_string(file.tensors().size()) + " tensors");
  }
  weights.layers.reserve(p.n_layer);
  for (std::uint32_t layer = 0; layer < p.n_layer; ++layer) weights.layers.push_back(map_layer(tensors, layer, p));
  return weights;
}

}  // namespace mg::engine
