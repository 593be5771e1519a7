// Files written by another tool: gguf-py, the library llama.cpp's converters write GGUF with, taken
// from the llama.cpp source that the node-llama-cpp package ships. Its writer lays out metadata and
// tensors its own way and quantizes with its own code; the engine must load what it writes and compute
// the same logits as the NumPy reference. Its dequantizers must agree with the engine's, type by type.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "local_engine/kernels/dequantize.h"
#include "local_engine/model/llama_model.h"
#include "tests/local_engine/support/engine_test_support.h"

namespace mg::engine {
namespace {

using testing::run_command;

const std::filesystem::path kHere = std::filesystem::path(MODELGATE_SOURCE_DIR) / "tests/local_engine/llama_cpp";

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("mg_ggufpy_" + std::to_string(::getpid()) + "_" + name);
}

class GgufPyInteropTest : public ::testing::Test {
 protected:
  // gguf-py's sources, checked out of the llama.cpp git bundle inside node-llama-cpp.
  static void SetUpTestSuite() {
    auto bundle = kHere / "node_modules/node-llama-cpp/llama/gitRelease.bundle";
    if (!std::filesystem::exists(bundle)) return;
    source_ = temp_path("llama_src");
    std::filesystem::remove_all(source_);
    run_command("git clone -q --no-checkout " + bundle.string() + " " + source_.string() + " 2>&1 && git -C " + source_.string() +
                " checkout -q HEAD -- gguf-py 2>&1");
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(source_); }

  void SetUp() override {
    if (source_.empty() || !std::filesystem::exists(source_ / "gguf-py/gguf/gguf_writer.py")) {
      GTEST_SKIP() << "gguf-py comes from the llama.cpp source in node-llama-cpp, which is not installed (npm unreachable?); "
                      "scripts/install-deps.sh --with-node installs it";
    }
  }

  static std::string gguf_py(const std::string& arguments) {
    return run_command("PYTHONPATH=" + (source_ / "gguf-py").string() + " " + MODELGATE_PYTHON + " " + (kHere / "gguf_py_interop.py").string() + " " +
                       arguments + " 2>&1");
  }

  static inline std::filesystem::path source_;
};

TEST_F(GgufPyInteropTest, TheEngineRunsModelsGgufPyWroteAsTheReferenceDoes) {
  for (auto [shape, type] : {std::pair{"mistral", "F32"}, {"mistral", "BF16"}, {"mistral", "Q8_0"}, {"mixtral", "Q4_0"}}) {
    SCOPED_TRACE(std::string(shape) + " " + type);
    auto path = temp_path(std::string(shape) + "_" + type + ".gguf");
    ASSERT_EQ(gguf_py("write " + path.string() + " " + shape + " " + type), "");
    auto model = LlamaModel::load(path);
    const std::uint32_t n_vocab = model->hparams().n_vocab;
    std::vector<std::int32_t> prompt = {1};
    std::mt19937 random(4);
    while (prompt.size() < 32) prompt.push_back(static_cast<std::int32_t>(3 + random() % (n_vocab - 3)));
    LlamaSession session(model, 64);
    testing::ProductInputRecorder inputs(path.string() + ".inputs");
    inputs.attach(session);
    std::vector<float> logits = session.evaluate(prompt, true);
    testing::ReferenceRun reference = testing::run_numpy_reference(path, prompt, 0, inputs.path());
    std::filesystem::remove(path);
    EXPECT_LE(testing::worst_relative_logit_error(logits, reference, n_vocab), 1e-4);
  }
}

// Blocks of every type, from the engine's quantizer on data of varied scale, decoded by both.
TEST_F(GgufPyInteropTest, EveryDequantizerAgreesWithGgufPys) {
  constexpr std::size_t kElements = 256 * 16;
  std::mt19937 random(8);
  std::normal_distribution<float> normal;
  for (GgmlType type : {GgmlType::f16, GgmlType::bf16, GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1, GgmlType::q8_0, GgmlType::q2_k,
                        GgmlType::q3_k, GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k}) {
    std::string name(traits_of(type).name);
    SCOPED_TRACE(name);
    std::vector<float> values(kElements);
    for (std::size_t i = 0; i < kElements; ++i) values[i] = normal(random) * std::exp2(static_cast<float>(i / 256 % 8) - 4.0f) + (i / 32 % 3 == 0 ? 0.5f : 0.0f);
    std::vector<std::byte> blocks(*ggml_bytes(type, kElements));
    quantize_row(type, values.data(), blocks.data(), kElements);
    std::vector<float> ours(kElements);
    dequantize_row(type, blocks.data(), ours.data(), kElements);

    auto in = temp_path(name + ".bin");
    auto out = temp_path(name + ".f32");
    std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(blocks.data()), static_cast<std::streamsize>(blocks.size()));
    ASSERT_EQ(gguf_py("dequantize " + name + " " + in.string() + " " + out.string()), "");
    std::vector<float> theirs(kElements);
    std::ifstream(out, std::ios::binary).read(reinterpret_cast<char*>(theirs.data()), static_cast<std::streamsize>(kElements * sizeof(float)));
    std::filesystem::remove(in);
    std::filesystem::remove(out);
    // Float rounding may differ by an ulp where the two multiply in another order; a layout error cannot hide in that.
    for (std::size_t i = 0; i < kElements; ++i) ASSERT_NEAR(ours[i], theirs[i], 1e-6f * (1.0f + std::abs(theirs[i]))) << "element " << i;
  }
}

}  // namespace
}  // namespace mg::engine
