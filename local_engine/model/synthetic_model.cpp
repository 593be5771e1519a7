#include "local_engine/model/synthetic_model.h"

#include <cmath>
#include <stdexcept>

#include "local_engine/kernels/dequantize.h"

namespace mg::engine {
namespace {

// A file type: the tensor type of most weights, and what llama.cpp's "_M" mixes give more bits to.
struct FileType {
  std::string_view name;
  std::uint32_t llama_file_type;  // general.file_type, llama.cpp's numbering
  GgmlType base;
  GgmlType more_bits;             // attn_v and ffn_down of some layers (llama.cpp's use_more_bits rule)
  GgmlType output;                // output.weight
};

constexpr FileType kFileTypes[] = {
    {"F32", 0, GgmlType::f32, GgmlType::f32, GgmlType::f32},       {"F16", 1, GgmlType::f16, GgmlType::f16, GgmlType::f16},
    {"BF16", 32, GgmlType::bf16, GgmlType::bf16, GgmlType::bf16},  {"Q4_0", 2, GgmlType::q4_0, GgmlType::q4_0, GgmlType::q6_k},
    {"Q4_1", 3, GgmlType::q4_1, GgmlType::q4_1, GgmlType::q6_k},   {"Q8_0", 7, GgmlType::q8_0, GgmlType::q8_0, GgmlType::q8_0},
    {"Q5_0", 8, GgmlType::q5_0, GgmlType::q5_0, GgmlType::q6_k},   {"Q5_1", 9, GgmlType::q5_1, GgmlType::q5_1, GgmlType::q6_k},
    {"Q2_K", 10, GgmlType::q2_k, GgmlType::q3_k, GgmlType::q6_k},  {"Q3_K_M", 12, GgmlType::q3_k, GgmlType::q4_k, GgmlType::q6_k},
    {"Q4_K_M", 15, GgmlType::q4_k, GgmlType::q6_k, GgmlType::q6_k}, {"Q5_K_M", 17, GgmlType::q5_k, GgmlType::q6_k, GgmlType::q6_k},
    {"Q6_K", 18, GgmlType::q6_k, GgmlType::q6_k, GgmlType::q6_k},
};

const FileType& file_type(std::string_view name) {
  for (const FileType& type : kFileTypes) {
    if (type.name == name) return type;
  }
  throw std::invalid_argument("unknown file type '" + std::string(name) + "'; expected one of F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K");
}

// llama.cpp's rule for which layers of a "_M" mix get more bits: the first and last eighth, and every
// third layer between.
bool uses_more_bits(std::uint32_t layer, std::uint32_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

// splitmix64: fast, and the same numbers on every machine.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }  // [-1, 1)

 private:
  std::uint64_t state_;
};

std::uint64_t name_hash(std::string_view name) {
  std::uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : name) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

// Values uniform in [center - spread, center + spread), rows converted to `type` one at a time.
GgufWriter::TensorProducer random_tensor(std::uint64_t seed, std::string name, GgmlType type, std::uint64_t n_cols, std::uint64_t n_rows,
                                         float center, float spread) {
  return [=] {
    Random random(seed ^ name_hash(name));
    std::uint64_t row_bytes = *ggml_bytes(type, n_cols);
    std::vector<std::byte> bytes(row_bytes * n_rows);
    std::vector<float> row(n_cols);
    for (std::uint64_t r = 0; r < n_rows; ++r) {
      for (float& value : row) value = center + spread * random.uniform();
      quantize_row(type, row.data(), bytes.data() + r * row_bytes, n_cols);
    }
    return bytes;
  };
}

class ModelBuilder {
 public:
  ModelBuilder(const SyntheticModelSpec& spec, GgufWriter& writer) : spec_(spec), p_(spec.hparams), type_(file_type(spec.file_type)), writer_(writer) {}

  // A matrix mapping n_cols inputs to n_rows outputs ([n_cols, n_rows], or [n_cols, n_rows, n_stack]),
  // scaled so that each output has about unit variance for unit-variance inputs.
  void matrix(const std::string& name, std::uint64_t n_cols, std::uint64_t n_rows, GgmlType type, std::uint64_t n_stack = 1) {
    if (n_cols % traits_of(type).block_elements != 0) {
      throw std::invalid_argument("tensor '" + name + "' has rows of " + std::to_string(n_cols) + ", which " + std::string(traits_of(type).name) +
                                  " blocks of " + std::to_string(traits_of(type).block_elements) + " do not divide");
    }
    float spread = std::sqrt(3.0f / static_cast<float>(n_cols));
    std::vector<std::uint64_t> shape = {n_cols, n_rows};
    if (n_stack > 1) shape.push_back(n_stack);
    writer_.add_tensor(name, shape, type, random_tensor(spec_.seed, name, type, n_cols, n_rows * n_stack, 0.0f, spread));
  }

  void norm(const std::string& name) {
    writer_.add_tensor(name, {p_.n_embd}, GgmlType::f32, random_tensor(spec_.seed, name, GgmlType::f32, p_.n_embd, 1, 1.0f, 0.1f));
  }

  void layer(std::uint32_t l) {
    std::string prefix = "blk." + std::to_string(l) + ".";
    GgmlType bumped = uses_more_bits(l, p_.n_layer) ? type_.more_bits : type_.base;
    norm(prefix + "attn_norm.weight");
    matrix(prefix + "attn_q.weight", p_.n_embd, p_.n_embd_q(), type_.base);
    matrix(prefix + "attn_k.weight", p_.n_embd, p_.n_embd_kv(), type_.base);
    matrix(prefix + "attn_v.weight", p_.n_embd, p_.n_embd_kv(), bumped);
    matrix(prefix + "attn_output.weight", p_.n_embd_q(), p_.n_embd, type_.base);
    norm(prefix + "ffn_norm.weight");
    if (!p_.is_moe()) {
      matrix(prefix + "ffn_gate.weight", p_.n_embd, p_.n_ff, type_.base);
      matrix(prefix + "ffn_up.weight", p_.n_embd, p_.n_ff, type_.base);
      matrix(prefix + "ffn_down.weight", p_.n_ff, p_.n_embd, bumped);
      return;
    }
    // The router stays F32, as llama.cpp's quantizer leaves it.
    matrix(prefix + "ffn_gate_inp.weight", p_.n_embd, p_.n_expert, GgmlType::f32);
    if (spec_.merged_experts) {
      matrix(prefix + "ffn_gate_exps.weight", p_.n_embd, p_.n_ff, type_.base, p_.n_expert);
      matrix(prefix + "ffn_up_exps.weight", p_.n_embd, p_.n_ff, type_.base, p_.n_expert);
      matrix(prefix + "ffn_down_exps.weight", p_.n_ff, p_.n_embd, bumped, p_.n_expert);
      return;
    }
    for (std::uint32_t e = 0; e < p_.n_expert; ++e) {
      std::string index = "." + std::to_string(e) + ".weight";
      matrix(prefix + "ffn_gate" + index, p_.n_embd, p_.n_ff, type_.base);
      matrix(prefix + "ffn_up" + index, p_.n_embd, p_.n_ff, type_.base);
      matrix(prefix + "ffn_down" + index, p_.n_ff, p_.n_embd, bumped);
    }
  }

  void metadata(const Vocabulary& vocabulary) {
    writer_.set_string("general.architecture", "llama");
    writer_.set_string("general.name", spec_.name);
    writer_.set_uint32("general.file_type", type_.llama_file_type);
    writer_.set_uint32("llama.vocab_size", p_.n_vocab);
    writer_.set_uint32("llama.context_length", p_.n_ctx_train);
    writer_.set_uint32("llama.embedding_length", p_.n_embd);
    writer_.set_uint32("llama.block_count", p_.n_layer);
    writer_.set_uint32("llama.feed_forward_length", p_.n_ff);
    writer_.set_uint32("llama.attention.head_count", p_.n_head);
    writer_.set_uint32("llama.attention.head_count_kv", p_.n_head_kv);
    writer_.set_uint32("llama.rope.dimension_count", p_.n_rot);
    writer_.set_float32("llama.rope.freq_base", p_.rope_freq_base);
    writer_.set_float32("llama.attention.layer_norm_rms_epsilon", p_.rms_norm_eps);
    if (p_.is_moe()) {
      writer_.set_uint32("llama.expert_count", p_.n_expert);
      writer_.set_uint32("llama.expert_used_count", p_.n_expert_used);
    }
    if (p_.sliding_window) writer_.set_uint32("llama.attention.sliding_window", *p_.sliding_window);
    tokenizer(vocabulary);
  }

 private:
  void tokenizer(const Vocabulary& vocabulary) {
    writer_.set_string("tokenizer.ggml.model", "llama");
    writer_.set_string_array("tokenizer.ggml.tokens", vocabulary.tokens);
    writer_.set_float32_array("tokenizer.ggml.scores", vocabulary.scores);
    std::vector<std::int32_t> types;
    for (TokenType type : vocabulary.types) types.push_back(static_cast<std::int32_t>(type));
    writer_.set_int32_array("tokenizer.ggml.token_type", types);
    writer_.set_uint32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(vocabulary.bos_id));
    writer_.set_uint32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(vocabulary.eos_id));
    writer_.set_uint32("tokenizer.ggml.unknown_token_id", static_cast<std::uint32_t>(vocabulary.unk_id));
    writer_.set_bool("tokenizer.ggml.add_bos_token", vocabulary.add_bos);
    writer_.set_bool("tokenizer.ggml.add_eos_token", false);
    writer_.set_bool("tokenizer.ggml.add_space_prefix", vocabulary.add_space_prefix);
  }

  const SyntheticModelSpec& spec_;
  LlamaHyperParams p_;
  const FileType& type_;
  GgufWriter& writer_;
};

}  // namespace

SyntheticModelSpec synthetic_preset(std::string_view name) {
  SyntheticModelSpec spec;
  spec.name = std::string(name);
  LlamaHyperParams& p = spec.hparams;
  bool tiny = name.starts_with("tiny-");
  if (tiny) {
    p.n_vocab = 512, p.n_ctx_train = 512, p.n_embd = 256, p.n_layer = 2, p.n_head = 8, p.n_head_kv = 2, p.n_embd_head = 32, p.n_rot = 32;
    p.n_ff = 512, p.rope_freq_base = 10000.0f;
  } else {  // Mistral-7B v0.2 and Mixtral-8x7B share these
    p.n_vocab = 32000, p.n_ctx_train = 32768, p.n_embd = 4096, p.n_layer = 32, p.n_head = 32, p.n_head_kv = 8, p.n_embd_head = 128;
    p.n_rot = 128, p.n_ff = 14336, p.rope_freq_base = 1000000.0f;
  }
  if (name == "tiny-mixtral" || name == "mixtral-8x7b") {
    p.n_expert = 8, p.n_expert_used = 2;
    if (tiny) p.n_ff = 256;
  } else if (name != "tiny-mistral" && name != "mistral-7b") {
    throw std::invalid_argument("unknown model shape '" + std::string(name) + "'; expected tiny-mistral, tiny-mixtral, mistral-7b or mixtral-8x7b");
  }
  return spec;
}

std::vector<std::string> synthetic_preset_names() { return {"tiny-mistral", "tiny-mixtral", "mistral-7b", "mixtral-8x7b"}; }

std::vector<std::string> synthetic_file_types() {
  std::vector<std::string> names;
  for (const FileType& type : kFileTypes) names.emplace_back(type.name);
  return names;
}

Vocabulary synthetic_vocabulary(std::uint32_t size) {
  Vocabulary vocabulary;
  auto add = [&](std::string piece, TokenType type) {
    vocabulary.tokens.push_back(std::move(piece));
    vocabulary.types.push_back(type);
    vocabulary.scores.push_back(type == TokenType::normal ? -static_cast<float>(vocabulary.tokens.size()) : 0.0f);
  };
  add("<unk>", TokenType::unknown);
  add("<s>", TokenType::control);
  add("</s>", TokenType::control);
  for (int byte = 0; byte < 256; ++byte) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", byte);
    add(hex, TokenType::byte);
  }
  const std::string space = "\xe2\x96\x81";  // ▁
  std::string alphabet = "etaoinshrdlucmfwypvbgkqjxzETAOINSHRDLUCMFWYPVBGKQJXZ0123456789.,!?'-:;()";
  // Pieces in order of length: the space, single characters, "▁"-prefixed characters, then pairs and
  // triples of characters, as many as the size asks for (73^3 are far more than any vocabulary needs).
  auto add_while_short = [&](const std::string& piece) {
    if (vocabulary.tokens.size() < size) add(piece, TokenType::normal);
  };
  add_while_short(space);
  for (char c : alphabet) add_while_short(std::string(1, c));
  for (char c : alphabet) add_while_short(space + c);
  for (char a : alphabet) {
    for (char b : alphabet) add_while_short(std::string{a, b});
  }
  for (char a : alphabet) {
    for (char b : alphabet) {
      for (char c : alphabet) add_while_short(std::string{a, b, c});
    }
  }
  if (vocabulary.tokens.size() < size) throw std::invalid_argument("a synthetic vocabulary holds at most " + std::to_string(vocabulary.tokens.size()) + " pieces");
  return vocabulary;
}

GgufWriter synthetic_model_writer(const SyntheticModelSpec& spec) {
  SyntheticModelSpec resolved = spec;
  Vocabulary vocabulary = spec.vocabulary ? *spec.vocabulary : synthetic_vocabulary(spec.hparams.n_vocab);
  validate_vocabulary(vocabulary);
  resolved.hparams.n_vocab = static_cast<std::uint32_t>(vocabulary.tokens.size());
  const LlamaHyperParams& p = resolved.hparams;
  const FileType& type = file_type(spec.file_type);

  GgufWriter writer;
  ModelBuilder builder(resolved, writer);
  builder.metadata(vocabulary);
  builder.matrix("token_embd.weight", p.n_embd, p.n_vocab, type.base);
  for (std::uint32_t l = 0; l < p.n_layer; ++l) builder.layer(l);
  builder.norm("output_norm.weight");
  builder.matrix("output.weight", p.n_embd, p.n_vocab, type.output);
  return writer;
}

}  // namespace mg::engine
