#include "local_engine/engine/engine.h"

#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "local_engine/sampling/stop_strings.h"
#include "local_engine/tokenizer/gguf_vocabulary.h"
#include "local_engine/tokenizer/stream_decoder.h"

namespace mg::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Reads one byte per page of every tensor, so the weights are in memory before the first token (as
// llama.cpp's MAP_POPULATE does), reporting progress as it goes.
void page_in(const GgufFile& file, const std::function<void(double)>& progress) {
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t total = 0;
  for (const GgufTensorInfo& tensor : file.tensors()) total += tensor.bytes;
  std::uint64_t done = 0;
  std::uint64_t next_report = 0;
  unsigned checksum = 0;  // read through a volatile, so the loads are not optimised away
  for (const GgufTensorInfo& tensor : file.tensors()) {
    auto bytes = file.tensor_bytes(tensor);
    const volatile std::byte* data = bytes.data();
    for (std::uint64_t at = 0; at < bytes.size(); at += page) checksum += static_cast<unsigned>(data[at]);
    done += tensor.bytes;
    if (progress && done >= next_report && done < total) {
      progress(total ? static_cast<double>(done) / static_cast<double>(total) : 1.0);
      next_report = done + total / 100;
    }
  }
  if (progress) progress(1.0);
  (void)checksum;
}

}  // namespace

Engine::Engine(std::shared_ptr<const LlamaModel> model, SentencePieceTokenizer tokenizer)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {}

std::shared_ptr<const Engine> Engine::load(const std::filesystem::path& path, const LoadOptions& options) {
  auto model = LlamaModel::load(path);
  SentencePieceTokenizer tokenizer(vocabulary_from_gguf(model->file()));
  if (static_cast<std::uint32_t>(tokenizer.vocab_size()) != model->hparams().n_vocab) {
    throw GgufError(path.string() + ": the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " pieces but the model " +
                    std::to_string(model->hparams().n_vocab) + " embeddings");
  }
  page_in(model->file(), options.progress);
  return std::shared_ptr<const Engine>(new Engine(std::move(model), std::move(tokenizer)));
}

GenerationResult Engine::generate(LlamaSession& session, const GenerationRequest& request,
                                  const std::function<bool(const GeneratedPiece&)>& on_piece) const {
  if (request.prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  GenerationResult result;
  result.prompt_tokens = static_cast<std::uint32_t>(request.prompt.size());
  auto started = Clock::now();
  std::vector<float> logits = session.evaluate(request.prompt);
  result.prompt_seconds = seconds_since(started);
  started = Clock::now();

  Sampler sampler(request.sampling);
  StreamDecoder decoder(tokenizer_);
  StopStringMatcher stops(request.stop);
  std::vector<std::int32_t> generated;
  result.finish_reason = "length";
  bool stop_string_seen = false;
  while (result.completion_tokens < request.max_tokens) {
    SampledToken sampled = sampler.sample(logits, generated);
    ++result.completion_tokens;
    if (sampled.token == tokenizer_.eos_id()) {
      result.finish_reason = "stop";
      break;
    }
    generated.push_back(sampled.token);
    auto step = stops.feed(decoder.feed(sampled.token));
    if (!on_piece(GeneratedPiece{step.text, &sampled})) {
      result.finish_reason = "cancelled";
      break;
    }
    if (step.stopped) {
      result.finish_reason = "stop";
      stop_string_seen = true;
      break;
    }
    if (session.n_past() >= session.n_ctx()) break;
    if (result.completion_tokens < request.max_tokens) logits = session.evaluate(std::span(&sampled.token, 1));
  }
  // Text held back (a partial character or a possible stop) is output after all, unless a stop ended it.
  if (!stop_string_seen && result.finish_reason != "cancelled") {
    auto last = stops.feed(decoder.finish());
    std::string rest = last.text + (last.stopped ? std::string() : stops.flush());
    if (!rest.empty()) on_piece(GeneratedPiece{rest, nullptr});
  }
  result.generation_seconds = seconds_since(started);
  return result;
}

}  // namespace mg::engine
