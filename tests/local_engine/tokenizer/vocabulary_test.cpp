// validate_vocabulary: every inconsistency a GGUF file could carry is refused with a message saying which.
#include "local_engine/tokenizer/vocabulary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <stdexcept>

#include "local_engine/tokenizer/sentencepiece_tokenizer.h"
#include "tests/local_engine/tokenizer/tiny_vocabulary.h"

namespace mg::engine {
namespace {

using testing::tiny_vocabulary;

// The message validate_vocabulary gives after `spoil` changes a valid vocabulary; "" when it accepts.
std::string rejection(const std::function<void(Vocabulary&)>& spoil) {
  Vocabulary vocabulary = tiny_vocabulary({{"a"}, {"b"}});
  spoil(vocabulary);
  try {
    validate_vocabulary(vocabulary);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

TEST(VocabularyTest, AcceptsAConsistentVocabulary) {
  EXPECT_EQ(rejection([](Vocabulary&) {}), "");
  EXPECT_EQ(rejection([](Vocabulary& v) { v = tiny_vocabulary({{"a"}}, /*byte_fallback=*/false); }), "");
}

TEST(VocabularyTest, RefusesSizesThatDiffer) {
  EXPECT_EQ(rejection([](Vocabulary& v) { v.scores.pop_back(); }),
            "vocabulary: 261 tokens but 260 scores; expected one score per token");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.types.push_back(TokenType::normal); }),
            "vocabulary: 261 tokens but 262 token types; expected one type per token");
}

TEST(VocabularyTest, RefusesAnEmptyVocabulary) {
  EXPECT_EQ(rejection([](Vocabulary& v) { v = Vocabulary{}; }),
            "vocabulary: no tokens; expected at least the unknown piece");
}

TEST(VocabularyTest, RefusesSpecialIdsOutOfRange) {
  EXPECT_EQ(rejection([](Vocabulary& v) { v.bos_id = 261; }),
            "vocabulary: bos_id 261 is outside the vocabulary; expected 0..260");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.eos_id = -1; }),
            "vocabulary: eos_id -1 is outside the vocabulary; expected 0..260");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.unk_id = 1000; }),
            "vocabulary: unk_id 1000 is outside the vocabulary; expected 0..260");
}

TEST(VocabularyTest, RefusesAnUnkIdThatIsNotTheUnknownPiece) {
  EXPECT_EQ(rejection([](Vocabulary& v) { v.unk_id = 1; }),
            "vocabulary: unk_id 1 '<s>' has type 3; expected unknown (2)");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.types[260] = TokenType::unknown; }),
            "vocabulary: token 260 is a second unknown piece; expected only unk_id 0");
}

TEST(VocabularyTest, RefusesMalformedPieces) {
  EXPECT_EQ(rejection([](Vocabulary& v) { v.types[259] = static_cast<TokenType>(7); }),
            "vocabulary: token 259 has type 7; expected 1..6");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.tokens[259].clear(); }),
            "vocabulary: token 259 is empty; SentencePiece pieces never are");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.tokens[259] = std::string("a\0b", 3); }),
            "vocabulary: token 259 holds a NUL byte");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.scores[260] = std::nanf(""); }),
            "vocabulary: token 260 'b' has a NaN score");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.tokens[260] = "a"; }), "vocabulary: token 260 'a' repeats token 259");
}

TEST(VocabularyTest, AllowsAControlPieceWithTheTextOfANormalOne) {
  // SentencePiece keeps control and normal pieces in separate maps; find() prefers the control one.
  Vocabulary vocabulary = tiny_vocabulary({{"a"}, {"<s>"}});
  EXPECT_NO_THROW(validate_vocabulary(vocabulary));
  EXPECT_EQ(SentencePieceTokenizer(vocabulary).find("<s>"), 1);
}

TEST(VocabularyTest, RefusesByteTokensNotOfTheFormHexByte) {
  EXPECT_EQ(rejection([](Vocabulary& v) { v.tokens[3 + 0x4A] = "<0x4a>"; }),
            "vocabulary: token 77 '<0x4a>' is a byte token; expected the form <0xNN> with upper-case hex");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.tokens[3] = "<0x0G>"; }),
            "vocabulary: token 3 '<0x0G>' is a byte token; expected the form <0xNN> with upper-case hex");
  EXPECT_EQ(rejection([](Vocabulary& v) { v.types[259] = TokenType::byte; }),
            "vocabulary: token 259 'a' is a byte token; expected the form <0xNN> with upper-case hex");
}

TEST(VocabularyTest, RefusesAnIncompleteSetOfBytePieces) {
  EXPECT_EQ(rejection([](Vocabulary& v) { v.types[3] = TokenType::normal; }),
            "vocabulary: 255 byte tokens; expected none or all 256");
}

TEST(VocabularyTest, TheTokenizerValidatesWhatItIsGiven) {
  Vocabulary vocabulary = tiny_vocabulary({{"a"}});
  vocabulary.scores.clear();
  EXPECT_THROW(SentencePieceTokenizer{vocabulary}, std::invalid_argument);
}

}  // namespace
}  // namespace mg::engine
