// The tokenizer against real SentencePiece on both Mistral vocabularies: every string of test_strings.txt
// must encode to SentencePiece's ids and decode (whole, or streamed one id at a time) to its text.
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <stdexcept>

#include "local_engine/tokenizer/stream_decoder.h"
#include "tests/local_engine/tokenizer/sentencepiece_oracle_client.h"

namespace mg::engine {
namespace {

using testing::escaped;
using testing::oracle_run;
using testing::OracleRun;

constexpr std::size_t mismatches_shown = 8;

std::string join_ids(const std::vector<std::int32_t>& ids) {
  std::ostringstream out;
  for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  return out.str();
}

std::string join_pieces(const SentencePieceTokenizer& tokenizer, const std::vector<std::int32_t>& ids) {
  std::string out;
  for (const std::int32_t id : ids) {
    out += out.empty() ? "" : " ";
    out += id >= 0 && id < tokenizer.vocab_size() ? escaped(tokenizer.piece(id)) : "<out of range>";
  }
  return out;
}

// Collects the first few failures of a loop over all cases into one readable message.
class MismatchReport {
 public:
  void add(const std::string& what) {
    if (++count_ <= mismatches_shown) text_ += what + "\n";
  }
  std::size_t count() const { return count_; }
  std::string text() const { return text_ + std::to_string(count_) + " mismatches in all"; }

 private:
  std::size_t count_ = 0;
  std::string text_;
};

class SentencePieceTokenizerTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    try {
      run_ = &oracle_run(GetParam());
    } catch (const std::exception& error) {
      FAIL() << error.what();  // never a skip: the oracle is part of the test suite
    }
    tokenizer_ = std::make_unique<SentencePieceTokenizer>(run_->vocabulary);
  }

  const OracleRun* run_ = nullptr;
  std::unique_ptr<SentencePieceTokenizer> tokenizer_;
};

TEST_P(SentencePieceTokenizerTest, ModelHasTheSettingsTheTokenizerAssumes) {
  // The tokenizer implements BPE with the identity normalizer, byte fallback, the dummy prefix and
  // SentencePiece's default unknown surface; a model with other settings would need more code.
  EXPECT_EQ(run_->spec.at("model_type"), "bpe");
  EXPECT_EQ(run_->spec.at("byte_fallback"), "1");
  EXPECT_EQ(run_->spec.at("add_dummy_prefix"), "1");
  EXPECT_EQ(run_->spec.at("remove_extra_whitespaces"), "0");
  EXPECT_EQ(run_->spec.at("escape_whitespaces"), "1");
  EXPECT_EQ(run_->spec.at("treat_whitespace_as_suffix"), "0");
  EXPECT_EQ(run_->spec.at("precompiled_charsmap_bytes"), "0");
  EXPECT_EQ(run_->spec.at("denormalizer_charsmap_bytes"), "0");
  EXPECT_EQ(run_->spec.at("unk_surface_hex"), "20e2818720");  // " ⁇ "
}

TEST_P(SentencePieceTokenizerTest, KnowsTheSpecialPieces) {
  const bool v3 = tokenizer_->vocab_size() == 32768;
  EXPECT_TRUE(v3 || tokenizer_->vocab_size() == 32000);
  EXPECT_EQ(tokenizer_->bos_id(), 1);
  EXPECT_EQ(tokenizer_->eos_id(), 2);
  EXPECT_EQ(tokenizer_->find("<unk>"), 0);
  EXPECT_EQ(tokenizer_->find("<s>"), 1);
  EXPECT_EQ(tokenizer_->find("</s>"), 2);
  EXPECT_EQ(tokenizer_->find("<0x0A>"), v3 ? 781 : 13);
  EXPECT_EQ(tokenizer_->find("no such piece"), -1);
  EXPECT_TRUE(tokenizer_->is_control(1));
  EXPECT_FALSE(tokenizer_->is_control(tokenizer_->find("\xE2\x96\x81the")));
  EXPECT_EQ(tokenizer_->find("[INST]"), v3 ? 3 : -1);
  EXPECT_EQ(tokenizer_->byte_value(tokenizer_->find("<0xE4>")), 0xE4);
  EXPECT_FALSE(tokenizer_->byte_value(1).has_value());
}

TEST_P(SentencePieceTokenizerTest, EncodesEveryStringAsSentencePieceDoes) {
  ASSERT_GE(run_->cases.size(), 300u);
  MismatchReport report;
  for (const auto& test : run_->cases) {
    const std::vector<std::int32_t> got = tokenizer_->encode(test.text, /*add_bos=*/false);
    if (got == test.ids) continue;
    report.add("[" + test.category + "] '" + escaped(test.text).substr(0, 200) + "'\n  expected " +
               join_ids(test.ids) + "  (" + join_pieces(*tokenizer_, test.ids) + ")\n  got      " + join_ids(got) +
               "  (" + join_pieces(*tokenizer_, got) + ")");
  }
  EXPECT_EQ(report.count(), 0u) << report.text();
}

TEST_P(SentencePieceTokenizerTest, MergingWordByWordGivesWhatMergingTheWholeTextGives) {
  // A piece with a "▁" inside turns the word-by-word shortcut off; this one can never form (neither
  // half is a piece), so the general path must give SentencePiece's ids too.
  Vocabulary vocabulary = run_->vocabulary;
  vocabulary.tokens.push_back("\x01\xE2\x96\x81\x01");
  vocabulary.scores.push_back(-1e9f);
  vocabulary.types.push_back(TokenType::normal);
  const SentencePieceTokenizer whole_text(std::move(vocabulary));
  MismatchReport report;
  for (const auto& test : run_->cases) {
    if (whole_text.encode(test.text, false) == test.ids) continue;
    report.add("[" + test.category + "] '" + escaped(test.text).substr(0, 200) + "'");
  }
  EXPECT_EQ(report.count(), 0u) << report.text();
}

TEST_P(SentencePieceTokenizerTest, DecodesAsSentencePieceDoes) {
  MismatchReport report;
  for (const auto& test : run_->cases) {
    const std::string got = tokenizer_->decode(test.ids);
    if (got == test.decoded) continue;
    report.add("[" + test.category + "] ids " + join_ids(test.ids).substr(0, 200) + "\n  expected '" +
               escaped(test.decoded) + "'\n  got      '" + escaped(got) + "'");
  }
  EXPECT_EQ(report.count(), 0u) << report.text();
}

TEST_P(SentencePieceTokenizerTest, StreamDecoderFedOneIdAtATimeGivesTheSameText) {
  MismatchReport report;
  StreamDecoder decoder(*tokenizer_);
  for (const auto& test : run_->cases) {
    // As generation sees it: BOS first, EOS last, both invisible.
    std::vector<std::int32_t> ids{tokenizer_->bos_id()};
    ids.insert(ids.end(), test.ids.begin(), test.ids.end());
    ids.push_back(tokenizer_->eos_id());
    std::string streamed;
    for (const std::int32_t id : ids) streamed += decoder.feed(id);
    streamed += decoder.finish();
    if (streamed == test.decoded) continue;
    report.add("[" + test.category + "] ids " + join_ids(test.ids).substr(0, 200) + "\n  expected '" +
               escaped(test.decoded) + "'\n  streamed '" + escaped(streamed) + "'");
  }
  EXPECT_EQ(report.count(), 0u) << report.text();
}

TEST_P(SentencePieceTokenizerTest, DecodesArbitraryIdSequencesAsSentencePieceDoes) {
  ASSERT_GE(run_->decode_cases.size(), 300u);
  MismatchReport report;
  StreamDecoder decoder(*tokenizer_);
  for (const auto& test : run_->decode_cases) {
    const std::string decoded = tokenizer_->decode(test.ids);
    std::string streamed;
    for (const std::int32_t id : test.ids) streamed += decoder.feed(id);
    streamed += decoder.finish();
    if (decoded == test.decoded && streamed == test.decoded) continue;
    report.add("ids " + join_ids(test.ids) + " (" + join_pieces(*tokenizer_, test.ids) + ")\n  expected '" +
               escaped(test.decoded) + "'\n  decoded  '" + escaped(decoded) + "'\n  streamed '" + escaped(streamed) +
               "'");
  }
  EXPECT_EQ(report.count(), 0u) << report.text();
}

TEST_P(SentencePieceTokenizerTest, PutsBosInFrontOnlyWhenAsked) {
  const std::vector<std::int32_t> plain = tokenizer_->encode("Hello world", false);
  std::vector<std::int32_t> with_bos{tokenizer_->bos_id()};
  with_bos.insert(with_bos.end(), plain.begin(), plain.end());
  EXPECT_EQ(tokenizer_->encode("Hello world", true), with_bos);
  EXPECT_EQ(tokenizer_->encode("", true), std::vector<std::int32_t>{tokenizer_->bos_id()});
  EXPECT_TRUE(tokenizer_->encode("", false).empty());
  EXPECT_TRUE(tokenizer_->add_bos_by_default());
}

TEST_P(SentencePieceTokenizerTest, FallsBackToBytesAndDecodesThemBack) {
  // Egyptian hieroglyph A001 is in neither vocabulary: its four UTF-8 bytes become <0xF0><0x93><0x80><0x80>.
  const std::string text = "\xF0\x93\x80\x80";
  const std::vector<std::int32_t> ids = tokenizer_->encode(text, false);
  ASSERT_EQ(ids.size(), 5u);  // the dummy prefix "▁", then the four bytes
  EXPECT_EQ(tokenizer_->piece(ids[0]), "\xE2\x96\x81");
  const char* expected_pieces[] = {"<0xF0>", "<0x93>", "<0x80>", "<0x80>"};
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(tokenizer_->piece(ids[i + 1]), expected_pieces[i]);
  EXPECT_EQ(tokenizer_->decode(ids), text);
}

TEST_P(SentencePieceTokenizerTest, NeverProducesControlPiecesFromText) {
  for (const char* text : {"<s>", "</s>", "<unk>", "[INST]", "[/INST]", "[TOOL_CALLS]", "<0x41>"}) {
    for (const std::int32_t id : tokenizer_->encode(text, false)) {
      EXPECT_FALSE(tokenizer_->is_control(id)) << text;
      EXPECT_NE(tokenizer_->type(id), TokenType::unknown) << text;
    }
  }
}

TEST_P(SentencePieceTokenizerTest, RejectsIdsOutsideTheVocabulary) {
  const std::vector<std::int32_t> bad{1, tokenizer_->vocab_size()};
  EXPECT_THROW(tokenizer_->decode(bad), std::out_of_range);
  EXPECT_THROW(tokenizer_->piece(-1), std::out_of_range);
  StreamDecoder decoder(*tokenizer_);
  EXPECT_THROW(decoder.feed(-5), std::out_of_range);
}

TEST_P(SentencePieceTokenizerTest, EncodesALongTextInLinearTime) {
  // 1 MiB of prose: a quadratic merge loop would take minutes here; this one takes milliseconds.
  const auto long_case = std::find_if(run_->cases.begin(), run_->cases.end(),
                                      [](const auto& test) { return test.category == "long text"; });
  ASSERT_NE(long_case, run_->cases.end());
  std::string text;
  while (text.size() < (1u << 20)) text += long_case->text;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::int32_t> ids = tokenizer_->encode(text, false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("encode_tokens_per_second", std::to_string(static_cast<long long>(ids.size() / seconds)));
  EXPECT_EQ(tokenizer_->decode(ids), text);
}

INSTANTIATE_TEST_SUITE_P(MistralVocabularies, SentencePieceTokenizerTest,
                         ::testing::Values("tokenizer.model.v1", "mistral_instruct_tokenizer_240323.model.v3"),
                         [](const auto& param_info) { return std::string(param_info.index == 0 ? "v1" : "v3"); });

}  // namespace
}  // namespace mg::engine
