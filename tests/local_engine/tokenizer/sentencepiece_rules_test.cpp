// SentencePiece's BPE rules one at a time on hand-made vocabularies, including the ones no Mistral
// vocabulary exercises (unused pieces, no byte fallback). The expectations follow SentencePiece's
// bpe_model.cc and sentencepiece_processor.cc.
#include <gtest/gtest.h>

#include "local_engine/tokenizer/sentencepiece_tokenizer.h"
#include "tests/local_engine/tokenizer/tiny_vocabulary.h"

namespace mg::engine {
namespace {

using testing::tiny_id;
using testing::tiny_vocabulary;
using Ids = std::vector<std::int32_t>;

SentencePieceTokenizer without_space_prefix(Vocabulary vocabulary) {
  vocabulary.add_space_prefix = false;
  return SentencePieceTokenizer(std::move(vocabulary));
}

TEST(SentencePieceTokenizerRulesTest, EqualScoresMergeTheLeftmostPairFirst) {
  const auto tokenizer = without_space_prefix(tiny_vocabulary({{"a"}, {"b"}, {"ab", -1}, {"ba", -1}}));
  EXPECT_EQ(tokenizer.encode("aba", false), (Ids{tiny_id(2), tiny_id(0)}));  // ab a
  EXPECT_EQ(tokenizer.encode("bab", false), (Ids{tiny_id(3), tiny_id(1)}));  // ba b
}

TEST(SentencePieceTokenizerRulesTest, HigherScoreMergesFirstWherever) {
  const auto tokenizer = without_space_prefix(tiny_vocabulary({{"a"}, {"b"}, {"ab", -2}, {"ba", -1}}));
  EXPECT_EQ(tokenizer.encode("aba", false), (Ids{tiny_id(0), tiny_id(3)}));  // a ba
}

TEST(SentencePieceTokenizerRulesTest, MergesRepeatUntilNoNeighboursFormAPiece) {
  const auto tokenizer =
      without_space_prefix(tiny_vocabulary({{"a"}, {"b"}, {"c"}, {"ab", -1}, {"abc", -2}, {"ca", -3}}));
  EXPECT_EQ(tokenizer.encode("abcab", false), (Ids{tiny_id(4), tiny_id(3)}));  // abc ab
}

TEST(SentencePieceTokenizerRulesTest, TheDummyPrefixAndSpacesBecomeTheSpaceSymbol) {
  const SentencePieceTokenizer tokenizer(tiny_vocabulary({{"\xE2\x96\x81"}, {"a"}, {"\xE2\x96\x81" "a", -1}}));
  EXPECT_EQ(tokenizer.encode("a a", false), (Ids{tiny_id(2), tiny_id(2)}));
  EXPECT_EQ(tokenizer.encode(" ", false), (Ids{tiny_id(0), tiny_id(0)}));
  EXPECT_EQ(tokenizer.decode(Ids{tiny_id(2), tiny_id(2)}), "a a");
}

TEST(SentencePieceTokenizerRulesTest, WithoutByteFallbackARunOfUnknownCharactersIsOneUnk) {
  const auto tokenizer = without_space_prefix(tiny_vocabulary({{"a"}}, /*byte_fallback=*/false));
  const std::int32_t a = 3;
  EXPECT_EQ(tokenizer.encode("xyz", false), (Ids{0}));
  EXPECT_EQ(tokenizer.encode("xay\xFF", false), (Ids{0, a, 0}));
  EXPECT_EQ(tokenizer.decode(Ids{0, a}), " \xE2\x81\x87 a");  // " ⁇ a"
}

TEST(SentencePieceTokenizerRulesTest, ByteFallbackSpellsUnknownCharactersInBytes) {
  const auto tokenizer = without_space_prefix(tiny_vocabulary({{"a"}}));
  const auto byte_id = [](int byte) { return 3 + byte; };
  EXPECT_EQ(tokenizer.encode("a\xC3\xA9", false), (Ids{tiny_id(0), byte_id(0xC3), byte_id(0xA9)}));
  // Malformed input is U+FFFD by then, so it falls back to U+FFFD's bytes, not to the original byte.
  EXPECT_EQ(tokenizer.encode("\xFF", false), (Ids{byte_id(0xEF), byte_id(0xBF), byte_id(0xBD)}));
}

TEST(SentencePieceTokenizerRulesTest, UnusedPiecesAreResplitInTheOutput) {
  const auto tokenizer = without_space_prefix(
      tiny_vocabulary({{"a"}, {"b"}, {"c"}, {"ab", -1, TokenType::unused}, {"abc", -2}}));
  EXPECT_EQ(tokenizer.encode("ab", false), (Ids{tiny_id(0), tiny_id(1)}));
  EXPECT_EQ(tokenizer.encode("abc", false), (Ids{tiny_id(4)}));  // merging may pass through them
}

TEST(SentencePieceTokenizerRulesTest, UserDefinedPiecesMatchWholeLongestFirstAndNeverMerge) {
  const SentencePieceTokenizer tokenizer(tiny_vocabulary({{"\xE2\x96\x81"},
                                                          {"[R1]", 0, TokenType::user_defined},
                                                          {"[R12]", 0, TokenType::user_defined},
                                                          {"\xE2\x96\x81[R1]", 10},
                                                          {"[", -1}, {"R", -1}, {"1", -1}, {"]", -1}}));
  EXPECT_EQ(tokenizer.encode("[R12]", false), (Ids{tiny_id(0), tiny_id(2)}));
  EXPECT_EQ(tokenizer.encode("[R1]", false), (Ids{tiny_id(0), tiny_id(1)}));  // never ▁[R1]
  EXPECT_EQ(tokenizer.decode(Ids{tiny_id(0), tiny_id(1)}), "[R1]");
}

TEST(SentencePieceTokenizerRulesTest, ControlPiecesAreNeverMergedInto) {
  const auto tokenizer = without_space_prefix(tiny_vocabulary({{"<"}, {"s"}, {">"}, {"<s", -1}}));
  EXPECT_EQ(tokenizer.encode("<s>", false), (Ids{tiny_id(3), tiny_id(2)}));
  EXPECT_EQ(tokenizer.find("<s>"), 1);
}

TEST(SentencePieceTokenizerRulesTest, TheEmptyTextHasNoDummyPrefix) {
  const SentencePieceTokenizer tokenizer(tiny_vocabulary({{"\xE2\x96\x81"}}));
  EXPECT_TRUE(tokenizer.encode("", false).empty());
  EXPECT_EQ(tokenizer.decode(Ids{}), "");
}

}  // namespace
}  // namespace mg::engine
