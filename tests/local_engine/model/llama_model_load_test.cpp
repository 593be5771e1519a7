// Loading refuses files whose hyper-parameters the forward pass cannot trust, with a GgufError that names
// the key, before anything is sized from them. Both cases were found by the gguf fuzz target (tests/fuzz).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "local_engine/model/llama_model.h"
#include "local_engine/model/synthetic_model.h"

namespace mg::engine {
namespace {

// LlamaModel's load, from bytes; the GgufError's text, or "" when the file loads.
std::string load_error(const GgufWriter& writer) {
  try {
    LlamaModel model(GgufFile::parse(writer.bytes(), "bad.gguf"));
    return "";
  } catch (const GgufError& e) {
    return e.what();
  }
}

// 4 heads of 2^30 + 2: n_head * n_embd_head wraps to 8 in 32 bits, and the file's tensors are 8 wide. It
// loaded, and the first forward pass read and wrote whole heads far past the end of every buffer.
TEST(LlamaModelLoadTest, HeadsTooWideForTheirWidthToBeCountedAreRefused) {
  SyntheticModelSpec spec = synthetic_preset("tiny-mistral");
  LlamaHyperParams& p = spec.hparams;
  p.n_embd = 4, p.n_layer = 1, p.n_ff = 4, p.n_head = 4, p.n_head_kv = 4, p.n_rot = 2;
  p.n_embd_head = (1u << 30) + 2;
  ASSERT_EQ(p.n_embd_q(), 8u);  // what the writer sizes the attention tensors by
  GgufWriter writer = synthetic_model_writer(spec);
  writer.set_uint32("llama.attention.key_length", p.n_embd_head);
  EXPECT_NE(load_error(writer).find("heads of 1073741826 (key_length) are too wide"), std::string::npos) << load_error(writer);
}

// llama.block_count sized a vector of layers before any layer's tensors were looked for: 2^32 - 1 of
// them asked for about two terabytes (std::bad_alloc, not a GgufError).
TEST(LlamaModelLoadTest, ALayerCountPastTheTensorCountIsRefusedBeforeAnythingIsSized) {
  GgufWriter writer = synthetic_model_writer(synthetic_preset("tiny-mistral"));
  writer.set_uint32("llama.block_count", 0xffffffffu);
  EXPECT_NE(load_error(writer).find("llama.block_count is 4294967295, but the file has only"), std::string::npos) << load_error(writer);
}

}  // namespace
}  // namespace mg::engine
