// The tokenizer a GGUF file carries: tokenizer.ggml.* metadata mapped to a Vocabulary (and from one, for
// files we write), and SentencePiece .model files read directly, for `synth-model --vocab`.
#pragma once

#include <filesystem>

#include "local_engine/gguf/gguf_file.h"
#include "local_engine/tokenizer/vocabulary.h"

namespace mg::engine {

// GgufError when the file has no SentencePiece ("llama") tokenizer or its arrays disagree.
Vocabulary vocabulary_from_gguf(const GgufFile& file);

// Reads the pieces, scores, types and special ids of a SentencePiece model file (the protobuf that
// Mistral ships as tokenizer.model). std::runtime_error when it is not one.
Vocabulary read_sentencepiece_model(const std::filesystem::path& path);

}  // namespace mg::engine
