#include "local_engine/engine/engine.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "local_engine/engine/resident_memory.h"
#include "local_engine/model/synthetic_model.h"
#include "local_engine/tokenizer/gguf_vocabulary.h"
#include "tests/support/proc_status.h"
#include "tests/local_engine/tokenizer/sentencepiece_oracle_client.h"

namespace mg::engine {
namespace {

std::filesystem::path tokenizer_model(const std::string& name) {
  return std::filesystem::path(MODELGATE_SOURCE_DIR) / "tests/local_engine/data/mistral_tokenizer" / name;
}

// A tiny model written to a temporary file, removed at the end of the test.
class TinyModelFile {
 public:
  explicit TinyModelFile(SyntheticModelSpec spec, const std::string& label = "model")
      : path_(std::filesystem::temp_directory_path() / ("mg_engine_" + std::to_string(::getpid()) + "_" + label + ".gguf")) {
    synthetic_model_writer(spec).write(path_);
  }
  ~TinyModelFile() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class GgufTokenizerTest : public ::testing::TestWithParam<std::string> {};

// The real Mistral vocabularies, read from their SentencePiece files, written into a GGUF file's
// tokenizer.ggml.* metadata and read back: the tokenizer built from the file encodes every test string
// exactly as SentencePiece does.
TEST_P(GgufTokenizerTest, RealVocabulariesSurviveAGgufFileAndEncodeAsSentencePiece) {
  const testing::OracleRun& oracle = testing::oracle_run(GetParam());
  Vocabulary from_model_file = read_sentencepiece_model(tokenizer_model(GetParam()));
  EXPECT_EQ(from_model_file.tokens, oracle.vocabulary.tokens);
  EXPECT_EQ(from_model_file.scores, oracle.vocabulary.scores);
  EXPECT_EQ(from_model_file.types, oracle.vocabulary.types);
  EXPECT_EQ(from_model_file.add_space_prefix, oracle.vocabulary.add_space_prefix);

  SyntheticModelSpec spec = synthetic_preset("tiny-mistral");
  spec.vocabulary = from_model_file;
  TinyModelFile file(spec, "vocab");
  auto engine = Engine::load(file.path());
  Vocabulary from_gguf = vocabulary_from_gguf(engine->model()->file());
  EXPECT_EQ(from_gguf.tokens, oracle.vocabulary.tokens);
  EXPECT_EQ(from_gguf.types, oracle.vocabulary.types);
  EXPECT_EQ(from_gguf.bos_id, 1);
  EXPECT_EQ(from_gguf.eos_id, 2);
  int mismatches = 0;
  for (const testing::OracleCase& c : oracle.cases) {
    if (engine->tokenizer().encode(c.text, false) != c.ids) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0) << "of " << oracle.cases.size() << " strings";
  EXPECT_GE(oracle.cases.size(), 300u);
}

INSTANTIATE_TEST_SUITE_P(MistralVocabularies, GgufTokenizerTest,
                         ::testing::Values("tokenizer.model.v1", "mistral_instruct_tokenizer_240323.model.v3"),
                         [](const auto& test_info) { return test_info.param.find("v3") != std::string::npos ? std::string("v3") : std::string("v1"); });

TEST(GgufTokenizerTest, ASentencePieceFileThatIsNotOneIsRefused) {
  EXPECT_THROW(read_sentencepiece_model(tokenizer_model("chat_cases.jsonl")), std::runtime_error);
  EXPECT_THROW(read_sentencepiece_model(tokenizer_model("missing.model")), std::runtime_error);
}

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    file_ = new TinyModelFile(synthetic_preset("tiny-mistral"), "engine");
    engine_ = Engine::load(file_->path());
  }
  static void TearDownTestSuite() {
    engine_.reset();
    delete file_;
  }

  struct Output {
    std::string text;
    GenerationResult result;
  };

  static Output run(GenerationRequest request, int cancel_after = -1) {
    LlamaSession session(engine_->model(), 256);
    Output out;
    int pieces = 0;
    out.result = engine_->generate(session, request, [&](const GeneratedPiece& piece) {
      out.text.append(piece.text);
      return ++pieces != cancel_after;
    });
    return out;
  }

  static GenerationRequest request(std::uint32_t max_tokens, float temperature = 0.0f) {
    GenerationRequest r;
    r.prompt = engine_->tokenizer().encode("the rain in spain", true);
    r.max_tokens = max_tokens;
    r.sampling.temperature = temperature;
    return r;
  }

  static inline TinyModelFile* file_ = nullptr;
  static inline std::shared_ptr<const Engine> engine_;
};

TEST_F(EngineTest, GreedyGenerationIsReproducibleAndCountsItsTokens) {
  Output first = run(request(40));
  Output second = run(request(40));
  EXPECT_EQ(first.text, second.text);
  EXPECT_FALSE(first.text.empty());
  EXPECT_EQ(first.result.finish_reason, "length");
  EXPECT_EQ(first.result.completion_tokens, 40u);
  EXPECT_EQ(first.result.prompt_tokens, engine_->tokenizer().encode("the rain in spain", true).size());
}

TEST_F(EngineTest, TheSameSeedGivesTheSameTextAndAnotherSeedAnother) {
  GenerationRequest a = request(40, 1.0f);
  a.sampling.seed = 5;
  GenerationRequest b = a;
  b.sampling.seed = 6;
  EXPECT_EQ(run(a).text, run(a).text);
  EXPECT_NE(run(a).text, run(b).text);
}

TEST_F(EngineTest, AStopStringEndsTheTextBeforeIt) {
  std::string full = run(request(60)).text;
  ASSERT_GT(full.size(), 20u);
  std::string stop = full.substr(full.size() / 2, 3);
  GenerationRequest stopped = request(60);
  stopped.stop = {stop};
  Output out = run(stopped);
  EXPECT_EQ(out.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(out.result.finish_reason, "stop");
}

TEST_F(EngineTest, EndOfSequenceStopsAndIsNotText) {
  GenerationRequest eos = request(10);
  eos.sampling.logit_bias = {{engine_->tokenizer().eos_id(), 100.0f}};
  Output out = run(eos);
  EXPECT_EQ(out.text, "");
  EXPECT_EQ(out.result.finish_reason, "stop");
  EXPECT_EQ(out.result.completion_tokens, 1u);
}

TEST_F(EngineTest, TheCallerCanCancel) {
  Output out = run(request(40), 3);
  EXPECT_EQ(out.result.finish_reason, "cancelled");
  EXPECT_EQ(out.result.completion_tokens, 3u);
}

TEST_F(EngineTest, RefusesPromptsThatAreEmptyOrDoNotFit) {
  LlamaSession small(engine_->model(), 4);
  GenerationRequest empty = request(5);
  empty.prompt.clear();
  auto ignore = [](const GeneratedPiece&) { return true; };
  EXPECT_THROW(engine_->generate(small, empty, ignore), std::invalid_argument);
  GenerationRequest long_prompt = request(5);
  long_prompt.prompt.assign(5, 10);
  EXPECT_THROW(engine_->generate(small, long_prompt, ignore), std::length_error);
  long_prompt.prompt.assign(3, 10);  // fits, and generation stops when the context is full
  EXPECT_EQ(engine_->generate(small, long_prompt, ignore).finish_reason, "length");
}

TEST(EngineLoadTest, RefusesFilesThatAreNotModelsWithAClearError) {
  auto path = std::filesystem::temp_directory_path() / ("mg_engine_" + std::to_string(::getpid()) + "_broken.gguf");
  SyntheticModelSpec spec = synthetic_preset("tiny-mistral");
  GgufWriter writer = synthetic_model_writer(spec);
  writer.set_string("general.architecture", "gpt2");
  writer.write(path);
  try {
    Engine::load(path);
    ADD_FAILURE() << "loaded";
  } catch (const GgufError& e) {
    EXPECT_NE(std::string(e.what()).find("architecture 'gpt2' is not supported"), std::string::npos) << e.what();
  }
  std::filesystem::resize_file(path, 1000);
  EXPECT_THROW(Engine::load(path), GgufError);
  std::filesystem::remove(path);
}

// A 7B-wide file cut to one layer (about 250 MB): loading maps it and asks for it to be read ahead, but
// copies nothing and leaves the weights out of this process's resident memory until products touch them.
TEST(EngineLoadTest, UsesTheWeightsInPlaceWithoutMakingThemResident) {
  auto path = std::filesystem::temp_directory_path() / ("mg_engine_" + std::to_string(::getpid()) + "_wide.gguf");
  SyntheticModelSpec spec = synthetic_preset("mistral-7b");
  spec.file_type = "Q4_0";
  spec.hparams.n_layer = 1;
  spec.hparams.n_ctx_train = 64;
  synthetic_model_writer(spec).write(path);
  const std::uint64_t file_size = std::filesystem::file_size(path);

  const std::uint64_t before = resident_bytes();
  auto engine = Engine::load(path);
  const std::uint64_t grown = resident_bytes() - before;
  EXPECT_LT(grown, file_size / 20) << "resident memory grew by " << grown << " bytes loading a " << file_size << "-byte file";
  const GgufFile& file = engine->model()->file();
  EXPECT_EQ(engine->model()->weights().layers[0].wq.data, file.tensor_bytes(*file.find_tensor("blk.0.attn_q.weight")).data());

  LlamaSession session(engine->model(), 8);
  const std::int32_t token = 5;
  EXPECT_EQ(session.evaluate(std::span(&token, 1)).size(), engine->model()->hparams().n_vocab);
  std::filesystem::remove(path);
}

long locked_kib() { return test::proc_status_kib("self", "VmLck"); }

// Locking reads every weight in and pins it; where the memlock limit is too low for that, the load
// fails and says which limit to raise.
TEST(EngineLoadTest, LocksTheWeightsInMemoryWhenAsked) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer intercepts mlock and makes it a no-op; the release build runs this test";
#endif
  auto path = std::filesystem::temp_directory_path() / ("mg_engine_" + std::to_string(::getpid()) + "_locked.gguf");
  synthetic_model_writer(synthetic_preset("tiny-mistral")).write(path);
  const long before = locked_kib();
  ASSERT_GE(before, 0) << "no VmLck in /proc/self/status";
  try {
    auto engine = Engine::load(path, LoadOptions{.progress = {}, .lock_in_memory = true});
    std::uint64_t weights = 0;
    for (const GgufTensorInfo& tensor : engine->model()->file().tensors()) weights += tensor.bytes;
    EXPECT_GE(static_cast<std::uint64_t>(locked_kib() - before) * 1024, weights);
    engine.reset();
    EXPECT_EQ(locked_kib(), before) << "unmapping the file unlocks it";
  } catch (const GgufError& e) {
    rlimit limit{};
    ::getrlimit(RLIMIT_MEMLOCK, &limit);
    EXPECT_LT(limit.rlim_cur, std::filesystem::file_size(path)) << "locking failed under a limit that allows it: " << e.what();
    EXPECT_NE(std::string(e.what()).find("ulimit -l"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace mg::engine
