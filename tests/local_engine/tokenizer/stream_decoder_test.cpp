// The streaming decoder on a hand-made vocabulary: complete UTF-8 only, SentencePiece's dummy-prefix rule,
// and the same text as decode() whatever the ids (the oracle test checks the same on real strings).
#include "local_engine/tokenizer/stream_decoder.h"

#include <gtest/gtest.h>

#include <random>

#include "local_engine/tokenizer/utf8.h"
#include "tests/local_engine/tokenizer/tiny_vocabulary.h"

namespace mg::engine {
namespace {

using testing::tiny_id;
using testing::tiny_vocabulary;

constexpr std::string_view replacement = "\xEF\xBF\xBD";
constexpr std::int32_t unk = 0, bos = 1, eos = 2;
const std::int32_t hi = tiny_id(0), a = tiny_id(1), space = tiny_id(2);  // "▁Hi", "a", "▁"

std::int32_t byte_id(int byte) { return 3 + byte; }

class StreamDecoderTest : public ::testing::Test {
 protected:
  SentencePieceTokenizer tokenizer_{tiny_vocabulary({{"\xE2\x96\x81Hi"}, {"a"}, {"\xE2\x96\x81"}})};
  StreamDecoder decoder_{tokenizer_};
};

TEST_F(StreamDecoderTest, HoldsACharacterSplitOverByteTokensUntilItsLastByte) {
  EXPECT_EQ(decoder_.feed(byte_id(0xE4)), "");
  EXPECT_EQ(decoder_.feed(byte_id(0xBD)), "");
  EXPECT_EQ(decoder_.feed(byte_id(0xA0)), "\xE4\xBD\xA0");  // 你
  EXPECT_EQ(decoder_.feed(byte_id(0xF0)), "");
  EXPECT_EQ(decoder_.feed(byte_id(0x9F)), "");
  EXPECT_EQ(decoder_.feed(byte_id(0x98)), "");
  EXPECT_EQ(decoder_.feed(byte_id(0x80)), "\xF0\x9F\x98\x80");  // 😀
  EXPECT_EQ(decoder_.finish(), "");
}

TEST_F(StreamDecoderTest, ACharacterCutShortBecomesOneReplacementPerByte) {
  EXPECT_EQ(decoder_.feed(byte_id(0xE4)), "");
  EXPECT_EQ(decoder_.feed(byte_id(0xBD)), "");
  EXPECT_EQ(decoder_.feed(a), std::string(replacement) + std::string(replacement) + "a");
  EXPECT_EQ(decoder_.feed(byte_id(0xE4)), "");
  EXPECT_EQ(decoder_.finish(), replacement);
}

TEST_F(StreamDecoderTest, BytesThatCanNeverStartACharacterComeOutAtOnce) {
  EXPECT_EQ(decoder_.feed(byte_id(0xFF)), replacement);
  EXPECT_EQ(decoder_.feed(byte_id(0x80)), replacement);
  EXPECT_EQ(decoder_.feed(byte_id(0x41)), "A");
}

TEST_F(StreamDecoderTest, DropsTheDummyPrefixSpaceOfTheFirstPieceOnly) {
  EXPECT_EQ(decoder_.feed(bos), "");
  EXPECT_EQ(decoder_.feed(hi), "Hi");
  EXPECT_EQ(decoder_.feed(hi), " Hi");
  EXPECT_EQ(decoder_.feed(eos), "");
  EXPECT_EQ(decoder_.finish(), "");
  EXPECT_EQ(decoder_.feed(hi), "Hi");  // finish() starts a new stream
}

TEST_F(StreamDecoderTest, APieceThatLostItsSpaceEndsTheDroppingEvenIfItHadNoOtherText) {
  // SentencePiece: "▁" first decodes to nothing, and the next piece keeps its space.
  EXPECT_EQ(decoder_.feed(space), "");
  EXPECT_EQ(decoder_.feed(hi), " Hi");
}

TEST_F(StreamDecoderTest, TextBeforeTheFirstSpacedPieceKeepsItsSpace) {
  EXPECT_EQ(decoder_.feed(byte_id(0x41)), "A");
  EXPECT_EQ(decoder_.feed(hi), " Hi");
}

TEST_F(StreamDecoderTest, UnknownDecodesAsSentencePiecesQuestionMarks) {
  EXPECT_EQ(decoder_.feed(unk), " \xE2\x81\x87 ");
  EXPECT_EQ(decoder_.feed(hi), " Hi");
}

TEST_F(StreamDecoderTest, EveryChunkIsCompleteUtf8AndTheChunksMakeDecode) {
  // Random mixes of byte pieces (valid characters, broken ones, stray bytes) and normal pieces.
  std::mt19937 random(20240517);
  const std::vector<std::int32_t> pool{hi, a, space, bos, unk, byte_id(0x41), byte_id(0xC3), byte_id(0xA9),
                                       byte_id(0xE4), byte_id(0xBD), byte_id(0xA0), byte_id(0xF0), byte_id(0x9F),
                                       byte_id(0x98), byte_id(0x80), byte_id(0xFF), byte_id(0xED), byte_id(0xA0)};
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::int32_t> ids(random() % 12);
    for (auto& id : ids) id = pool[random() % pool.size()];
    std::string streamed;
    for (const std::int32_t id : ids) {
      const std::string chunk = decoder_.feed(id);
      for (std::string_view rest = chunk; !rest.empty();) {
        const utf8::CharRead read = utf8::read_char(rest);
        ASSERT_TRUE(read.valid) << "round " << round;
        rest.remove_prefix(read.length);
      }
      streamed += chunk;
    }
    streamed += decoder_.finish();
    ASSERT_EQ(streamed, tokenizer_.decode(ids)) << "round " << round;
  }
}

}  // namespace
}  // namespace mg::engine
