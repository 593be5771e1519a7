// A loaded model with its tokenizer, and the generation loop over one session: prompt, then sample,
// decode and check stops token by token, streaming text out as soon as it is complete UTF-8 and cannot
// be the start of a stop string.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/engine/generation.h"
#include "local_engine/model/llama_model.h"
#include "local_engine/sampling/sampler.h"
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"

namespace mg::engine {

struct LoadOptions {
  // Called with the fraction of the weights asked to be read ahead (or locked) so far (0 to 1).
  std::function<void(double)> progress;
  // Locks the weights in memory (mlock): they are read in during the load and never paged out, so a
  // request after a quiet hour does not wait for the disk. Needs a memlock limit (ulimit -l) above the
  // weights' size, or CAP_IPC_LOCK; without it the load fails with a GgufError that says so.
  bool lock_in_memory = false;
};

struct GenerationResult {
  std::uint32_t prompt_tokens = 0;
  std::uint32_t completion_tokens = 0;
  std::string finish_reason;  // "stop" (EOS or a stop string), "length" (max_tokens or the context), "cancelled"
  double prompt_seconds = 0;
  double generation_seconds = 0;
};

class Engine {
 public:
  // GgufError when the file is not a model the engine can run.
  static std::shared_ptr<const Engine> load(const std::filesystem::path& path, const LoadOptions& options = {});

  const std::shared_ptr<const LlamaModel>& model() const { return model_; }
  const SentencePieceTokenizer& tokenizer() const { return tokenizer_; }

  // Runs the request on `session` (from its current position). `on_piece` gets every sampled token with
  // the text it completes; returning false cancels. std::invalid_argument for an empty prompt,
  // std::length_error when it does not fit.
  GenerationResult generate(LlamaSession& session, const GenerationRequest& request,
                            const PieceCallback& on_piece) const;

 private:
  Engine(std::shared_ptr<const LlamaModel> model, SentencePieceTokenizer tokenizer);

  std::shared_ptr<const LlamaModel> model_;
  SentencePieceTokenizer tokenizer_;
};

}  // namespace mg::engine
