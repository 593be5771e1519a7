#include "local_engine/engine/engine.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "local_engine/tokenizer/gguf_vocabulary.h"

namespace mg::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::uint64_t weight_bytes(const GgufFile& file) {
  std::uint64_t total = 0;
  for (const GgufTensorInfo& tensor : file.tensors()) total += tensor.bytes;
  return total;
}

// Calls `apply(start, length)` over the weights, a page-aligned chunk at a time so progress can be
// reported.
void for_each_weight_chunk(const GgufFile& file, const std::function<void(void*, std::size_t)>& apply,
                           const std::function<void(double)>& progress) {
  constexpr std::uint64_t kChunk = 64ull << 20;
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t total = weight_bytes(file);
  std::uint64_t done = 0;
  for (const GgufTensorInfo& tensor : file.tensors()) {
    auto bytes = file.tensor_bytes(tensor);
    for (std::uint64_t at = 0; at < bytes.size(); at += kChunk) {
      const auto address = reinterpret_cast<std::uintptr_t>(bytes.data() + at);
      const std::uintptr_t start = address / page * page;  // madvise and mlock want a page-aligned start
      const std::uint64_t length = std::min<std::uint64_t>(kChunk, bytes.size() - at);
      apply(reinterpret_cast<void*>(start), length + (address - start));
      done += length;
      if (progress && done < total) progress(static_cast<double>(done) / static_cast<double>(total));
    }
  }
  if (progress) progress(1.0);
}

// Asks the kernel to read the weights ahead (MADV_WILLNEED). The pages go into the page cache, not into
// this process: they are mapped in by the first products that touch them, so loading costs no copy and
// next to no resident memory, and a warm cache makes it near instant.
void read_ahead(const GgufFile& file, const std::function<void(double)>& progress) {
  for_each_weight_chunk(
      file, [](void* start, std::size_t length) { ::madvise(start, length, MADV_WILLNEED); },  // advice: failing it only costs speed
      progress);
}

void lock_in_memory(const GgufFile& file, const std::function<void(double)>& progress) {
  for_each_weight_chunk(
      file,
      [&](void* start, std::size_t length) {
        if (::mlock(start, length) == 0) return;
        throw GgufError("cannot lock the " + std::to_string(weight_bytes(file) >> 20) + " MiB of weights of '" + file.name() +
                        "' in memory: " + std::strerror(errno) +
                        " (raise the memlock limit, ulimit -l, or give the process CAP_IPC_LOCK; or load without locking)");
      },
      progress);
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
  if (options.lock_in_memory) lock_in_memory(model->file(), options.progress);
  else read_ahead(model->file(), options.progress);
  return std::shared_ptr<const Engine>(new Engine(std::move(model), std::move(tokenizer)));
}

GenerationResult Engine::generate(LlamaSession& session, const GenerationRequest& request, const PieceCallback& on_piece) const {
  if (request.prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  GenerationResult result;
  result.prompt_tokens = static_cast<std::uint32_t>(request.prompt.size());
  auto started = Clock::now();
  std::vector<float> logits = session.evaluate(request.prompt);
  result.prompt_seconds = seconds_since(started);
  started = Clock::now();
  Generation generation(tokenizer_, request);
  while (auto next = generation.step(logits, on_piece, session.n_past() >= session.n_ctx())) logits = session.evaluate(std::span(&*next, 1));
  result.completion_tokens = generation.completion_tokens();
  result.finish_reason = generation.finish_reason();
  result.generation_seconds = seconds_since(started);
  return result;
}

}  // namespace mg::engine
