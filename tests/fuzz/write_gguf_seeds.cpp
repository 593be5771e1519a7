// Writes the seed corpus of the gguf fuzz target: tiny but complete Mistral and Mixtral files made by the
// engine's own synthetic-model writer (the one behind `modelgate synth-model`), small enough (a few KiB)
// for the fuzzer to mutate quickly, and between them covering dense and mixture-of-experts layers, merged
// and per-expert experts, F32, F16, BF16 and Q8_0 tensors, sliding-window attention, and vocabularies
// with and without the 256 byte pieces.
//
// Usage: mg_fuzz_write_gguf_seeds DIR   (the repository's seeds: tests/fuzz/corpus/gguf)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "local_engine/model/synthetic_model.h"

namespace {

using namespace mg::engine;

// Eight pieces, no byte fallback: "Hi" and " Hi" encode, anything else is <unk>.
Vocabulary eight_piece_vocabulary() {
  Vocabulary vocabulary;
  const std::string space = "\xE2\x96\x81";
  vocabulary.tokens = {"<unk>", "<s>", "</s>", space, "H", "i", space + "H", "Hi"};
  vocabulary.types = {TokenType::unknown, TokenType::control, TokenType::control, TokenType::normal,
                      TokenType::normal,  TokenType::normal,  TokenType::normal,  TokenType::normal};
  vocabulary.scores = {0, 0, 0, -1, -2, -3, -4, -5};
  return vocabulary;
}

// 1 layer of [n_embd] (8 unless a type's blocks need more), 2 heads sharing 1 KV head, feed-forward 16 (or n_embd).
SyntheticModelSpec tiny(const std::string& name, const std::string& file_type, std::uint32_t n_embd = 8) {
  SyntheticModelSpec spec = synthetic_preset(name.starts_with("tiny-mixtral") ? "tiny-mixtral" : "tiny-mistral");
  spec.name = name;
  spec.file_type = file_type;
  LlamaHyperParams& p = spec.hparams;
  p.n_ctx_train = 32, p.n_embd = n_embd, p.n_layer = 1, p.n_ff = std::max<std::uint32_t>(16, n_embd), p.n_head = 2, p.n_head_kv = 1;
  p.n_embd_head = n_embd / 2, p.n_rot = n_embd / 2;
  if (p.is_moe()) p.n_expert = 2, p.n_expert_used = 1;
  spec.vocabulary = eight_piece_vocabulary();
  return spec;
}

void write(const std::filesystem::path& dir, const SyntheticModelSpec& spec) {
  std::filesystem::path path = dir / (spec.name + ".gguf");
  synthetic_model_writer(spec).write(path);
  std::printf("%s: %ju bytes\n", path.c_str(), static_cast<std::uintmax_t>(std::filesystem::file_size(path)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);

  write(dir, tiny("tiny-mistral-f32", "F32"));
  SyntheticModelSpec windowed = tiny("tiny-mistral-sliding-window-bf16", "BF16");
  windowed.hparams.sliding_window = 4;
  write(dir, windowed);
  write(dir, tiny("tiny-mistral-q8_0", "Q8_0", 32));  // Q8_0 blocks hold 32 values
  write(dir, tiny("tiny-mixtral-merged-f16", "F16"));
  SyntheticModelSpec per_expert = tiny("tiny-mixtral-per-expert-f32", "F32");
  per_expert.merged_experts = false;
  write(dir, per_expert);
  SyntheticModelSpec bytes = tiny("tiny-mistral-byte-fallback-f16", "F16");
  bytes.vocabulary = synthetic_vocabulary(260);  // <unk>, <s>, </s>, the 256 byte pieces and "▁"
  write(dir, bytes);
  return 0;
}
