#include "local_engine/model/llama_hparams.h"

#include <limits>

namespace mg::engine {
namespace {

class KeyReader {
 public:
  explicit KeyReader(const GgufFile& file) : file_(file) {}

  std::uint32_t required(const std::string& key) const {
    auto value = file_.get_uint(key);
    if (!value) throw GgufError(file_.name() + ": metadata '" + key + "' is missing; a llama model needs it");
    return fits(key, *value);
  }

  std::optional<std::uint32_t> optional(const std::string& key) const {
    auto value = file_.get_uint(key);
    if (!value) return std::nullopt;
    return fits(key, *value);
  }

  float number(const std::string& key, float fallback) const { return static_cast<float>(file_.get_float(key).value_or(fallback)); }

  GgufError error(const std::string& what) const { return GgufError(file_.name() + ": " + what); }

 private:
  std::uint32_t fits(const std::string& key, std::uint64_t value) const {
    if (value > std::numeric_limits<std::uint32_t>::max()) throw error("metadata '" + key + "' is " + std::to_string(value) + ", too large");
    return static_cast<std::uint32_t>(value);
  }

  const GgufFile& file_;
};

std::uint32_t vocabulary_size(const GgufFile& file, const KeyReader& keys) {
  if (auto size = keys.optional("llama.vocab_size")) return *size;
  if (const GgufArray* tokens = file.get_array("tokenizer.ggml.tokens")) return static_cast<std::uint32_t>(tokens->count);
  if (const GgufTensorInfo* embeddings = file.find_tensor("token_embd.weight"); embeddings && embeddings->shape.size() == 2) {
    return static_cast<std::uint32_t>(embeddings->shape[1]);
  }
  throw keys.error("cannot tell the vocabulary size: no llama.vocab_size, tokenizer.ggml.tokens or token_embd.weight");
}

void check(const LlamaHyperParams& p, const KeyReader& keys) {
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw keys.error(what);
  };
  require(p.n_vocab > 0 && p.n_embd > 0 && p.n_layer > 0 && p.n_ff > 0 && p.n_head > 0, "a llama model needs non-zero vocabulary, width, layers, feed-forward and heads");
  require(p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0,
          "llama.attention.head_count " + std::to_string(p.n_head) + " is not a multiple of head_count_kv " + std::to_string(p.n_head_kv));
  require(p.n_embd_head > 0 && p.n_embd_head % 2 == 0, "the head size " + std::to_string(p.n_embd_head) + " must be even and non-zero");
  // n_embd_q() and n_embd_kv() are uint32 products: one that wraps would let tensors of the wrapped width
  // pass the shape checks while attention walks n_head whole heads past their end.
  require(std::uint64_t{p.n_head} * p.n_embd_head <= std::numeric_limits<std::uint32_t>::max(),
          "llama.attention.head_count " + std::to_string(p.n_head) + " heads of " + std::to_string(p.n_embd_head) + " (key_length) are too wide");
  require(p.n_rot > 0 && p.n_rot <= p.n_embd_head && p.n_rot % 2 == 0,
          "llama.rope.dimension_count " + std::to_string(p.n_rot) + " must be even and at most the head size " + std::to_string(p.n_embd_head));
  require(p.is_moe() == (p.n_expert_used > 0) && p.n_expert_used <= p.n_expert,
          "llama.expert_used_count " + std::to_string(p.n_expert_used) + " does not fit llama.expert_count " + std::to_string(p.n_expert));
  require(p.rms_norm_eps > 0 && p.rope_freq_base > 0, "the RMS norm epsilon and the RoPE base must be positive");
  require(!p.sliding_window || *p.sliding_window > 0, "llama.attention.sliding_window must be positive");
}

}  // namespace

LlamaHyperParams read_llama_hparams(const GgufFile& file) {
  KeyReader keys(file);
  auto architecture = file.get_string("general.architecture");
  if (!architecture) throw keys.error("metadata 'general.architecture' is missing");
  if (*architecture != "llama") {
    throw keys.error("architecture '" + std::string(*architecture) + "' is not supported; expected 'llama' (Mistral 7B, Mixtral 8x7B)");
  }
  LlamaHyperParams p;
  p.n_vocab = vocabulary_size(file, keys);
  p.n_ctx_train = keys.required("llama.context_length");
  p.n_embd = keys.required("llama.embedding_length");
  p.n_layer = keys.required("llama.block_count");
  p.n_ff = keys.required("llama.feed_forward_length");
  p.n_head = keys.required("llama.attention.head_count");
  p.n_head_kv = keys.optional("llama.attention.head_count_kv").value_or(p.n_head);
  if (p.n_head == 0 || p.n_embd % p.n_head != 0) {
    throw keys.error("llama.embedding_length " + std::to_string(p.n_embd) + " is not a multiple of head_count " + std::to_string(p.n_head));
  }
  p.n_embd_head = keys.optional("llama.attention.key_length").value_or(p.n_embd / p.n_head);
  if (auto value_length = keys.optional("llama.attention.value_length"); value_length && *value_length != p.n_embd_head) {
    throw keys.error("llama.attention.value_length differs from key_length, which llama models do not do");
  }
  p.n_rot = keys.optional("llama.rope.dimension_count").value_or(p.n_embd_head);
  p.n_expert = keys.optional("llama.expert_count").value_or(0);
  p.n_expert_used = keys.optional("llama.expert_used_count").value_or(0);
  p.rope_freq_base = keys.number("llama.rope.freq_base", 10000.0f);
  p.rms_norm_eps = keys.number("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  p.sliding_window = keys.optional("llama.attention.sliding_window");
  check(p, keys);
  return p;
}

std::string LlamaHyperParams::summary() const {
  std::string text = std::to_string(n_layer) + " layers, " + std::to_string(n_embd) + " wide, " + std::to_string(n_head) + " heads (" +
                     std::to_string(n_head_kv) + " KV) of " + std::to_string(n_embd_head) + ", feed-forward " + std::to_string(n_ff);
  if (is_moe()) text += ", " + std::to_string(n_expert) + " experts (" + std::to_string(n_expert_used) + " used)";
  text += ", vocabulary " + std::to_string(n_vocab) + ", context " + std::to_string(n_ctx_train);
  if (sliding_window) text += ", sliding window " + std::to_string(*sliding_window);
  return text;
}

}  // namespace mg::engine
