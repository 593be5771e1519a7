// Deterministic random-weight GGUF files with the real Mistral and Mixtral architectures: any size (tiny
// for tests, the full 7B and 8x7B shapes for benchmarks), any supported file type, with a real
// vocabulary when one is given. The same spec and seed always give the same bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/gguf/gguf_writer.h"
#include "local_engine/model/llama_hparams.h"
#include "local_engine/tokenizer/vocabulary.h"

namespace mg::engine {

struct SyntheticModelSpec {
  std::string name = "tiny-mistral";  // general.name
  LlamaHyperParams hparams;           // n_vocab is taken from the vocabulary when one is given
  std::string file_type = "F32";      // F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K
  std::uint64_t seed = 1;
  bool merged_experts = true;         // ffn_*_exps tensors (llama.cpp since 2024) or one per expert (before)
  std::optional<Vocabulary> vocabulary;
};

// "tiny-mistral", "tiny-mixtral", "mistral-7b" (v0.2's shape), "mixtral-8x7b"; std::invalid_argument
// for another name. Tiny shapes are 256 wide so that every block size (256 for K-quants) divides them.
SyntheticModelSpec synthetic_preset(std::string_view name);
std::vector<std::string> synthetic_preset_names();
std::vector<std::string> synthetic_file_types();

// A writer holding the whole model; tensors are generated (and quantized) as the file is written.
// std::invalid_argument for an unknown file type or a shape the type's blocks do not divide.
GgufWriter synthetic_model_writer(const SyntheticModelSpec& spec);

// A made-up SentencePiece-style vocabulary of `size` pieces: <unk>, <s>, </s>, the 256 byte pieces,
// then single characters and character pairs, with "▁"-prefixed variants.
Vocabulary synthetic_vocabulary(std::uint32_t size);

}  // namespace mg::engine
