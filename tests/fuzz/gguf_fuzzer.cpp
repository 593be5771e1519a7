// libFuzzer target: a GGUF model file, loaded as Engine::load loads one. GgufFile::parse runs the parse
// GgufFile::open runs on a mapped file (header, metadata, tensor infos, offsets and sizes against the
// file); LlamaModel reads the hyper-parameters and maps every weight, checking shapes and types; the
// tokenizer comes from the file's vocabulary and must agree with the model's. A file rejected says so
// with a GgufError, and nothing else may escape. A file that loads must also run: its tensors lie
// inside the file without overlapping, its tokenizer encodes and decodes, and one forward pass over
// the encoded prompt gives a logit per vocabulary entry.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "local_engine/gguf/gguf_file.h"
#include "local_engine/model/llama_model.h"
#include "local_engine/tokenizer/gguf_vocabulary.h"
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mg::engine;

void check_tensor_placement(const GgufFile& file) {
  std::uint64_t previous_end = 0;
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& tensor : file.tensors()) {
    FUZZ_CHECK(file.find_tensor(tensor.name) == &tensor);
    FUZZ_CHECK(tensor.file_offset % file.alignment() == 0 && tensor.file_offset >= file.data_offset());
    FUZZ_CHECK(tensor.bytes <= file.file_size() && tensor.file_offset <= file.file_size() - tensor.bytes);
    FUZZ_CHECK(file.tensor_bytes(tensor).size() == tensor.bytes);
    by_offset.push_back(&tensor);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->file_offset < b->file_offset; });
  for (const GgufTensorInfo* tensor : by_offset) {
    FUZZ_CHECK(tensor->file_offset >= previous_end);
    previous_end = tensor->file_offset + tensor->bytes;
  }
}

// Engine::load, from bytes: the same steps, without the file mapping and the read-ahead advice.
void load_and_run(std::vector<std::byte> bytes) {
  GgufFile file = GgufFile::parse(std::move(bytes), "fuzz.gguf");
  check_tensor_placement(file);
  auto model = std::make_shared<const LlamaModel>(std::move(file));
  SentencePieceTokenizer tokenizer(vocabulary_from_gguf(model->file()));
  const LlamaHyperParams& p = model->hparams();
  if (static_cast<std::uint32_t>(tokenizer.vocab_size()) != p.n_vocab) return;  // Engine::load refuses it (GgufError)

  std::vector<std::int32_t> prompt = tokenizer.encode("Hi \xE2\x96\x81 w\xC3\xB6rld\xFF!", tokenizer.add_bos_by_default());
  for (std::int32_t id : prompt) FUZZ_CHECK(id >= 0 && id < tokenizer.vocab_size());
  tokenizer.decode(prompt);
  if (prompt.empty()) prompt.push_back(tokenizer.bos_id());
  constexpr std::uint32_t kContext = 8;
  if (prompt.size() > kContext) prompt.resize(kContext);
  LlamaSession session(model, kContext, 1);
  std::vector<float> logits = session.evaluate(prompt);
  FUZZ_CHECK(logits.size() == p.n_vocab);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* begin = reinterpret_cast<const std::byte*>(data);
  try {
    load_and_run(std::vector<std::byte>(begin, begin + size));
  } catch (const GgufError&) {
    // rejected, as a file that is not a model the engine can run must be
  }
  return 0;
}
