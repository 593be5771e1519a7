// libFuzzer target: the SentencePiece tokenizer on both Mistral vocabularies the repository carries
// (tests/local_engine/data/mistral_tokenizer/, the ones the tokenizer tests hold to real SentencePiece).
// The first byte of the input chooses: bit 0 the vocabulary (v1, v3), bit 1 whether to add BOS, bit 2
// what the rest is (so '0'..'7' make readable seeds):
//  - text (any bytes, UTF-8 or not): encode never yields a control or unknown piece (BOS aside), decode
//    gives the text back with each malformed byte as U+FFFD and each U+2581 as a space (SentencePiece's
//    own round trip), and the streaming decoder gives the same text as decode;
//  - token ids (16-bit little-endian, some outside the vocabulary): decode and the streaming decoder
//    agree on valid UTF-8 text, or both refuse with std::out_of_range.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/tokenizer/gguf_vocabulary.h"
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"
#include "local_engine/tokenizer/stream_decoder.h"
#include "local_engine/tokenizer/utf8.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mg::engine;

const SentencePieceTokenizer& vocabulary(bool v3) {
  const std::string dir = MODELGATE_SOURCE_DIR "/tests/local_engine/data/mistral_tokenizer/";
  static const SentencePieceTokenizer v1_tokenizer(read_sentencepiece_model(dir + "tokenizer.model.v1"));
  static const SentencePieceTokenizer v3_tokenizer(read_sentencepiece_model(dir + "mistral_instruct_tokenizer_240323.model.v3"));
  return v3 ? v3_tokenizer : v1_tokenizer;
}

bool is_valid_utf8(std::string_view text) {
  while (!text.empty()) {
    utf8::CharRead read = utf8::read_char(text);
    if (!read.valid) return false;
    text.remove_prefix(read.length);
  }
  return true;
}

// What decode(encode(text)) gives in SentencePiece: malformed bytes become U+FFFD, and the "▁" that
// stands for a space in pieces comes back as a space.
std::string expected_round_trip(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    utf8::CharRead read = utf8::read_char(text);
    std::string_view character = text.substr(0, read.length);
    if (!read.valid) out += utf8::replacement_character;
    else if (character == "\xE2\x96\x81") out += ' ';
    else out += character;
    text.remove_prefix(read.length);
  }
  return out;
}

std::string stream_decode(const SentencePieceTokenizer& tokenizer, const std::vector<std::int32_t>& ids) {
  StreamDecoder decoder(tokenizer);
  std::string text;
  for (std::int32_t id : ids) decoder.feed(id, text);
  decoder.finish(text);
  return text;
}

void check_text(const SentencePieceTokenizer& tokenizer, std::string_view text, bool add_bos) {
  std::vector<std::int32_t> ids = tokenizer.encode(text, add_bos);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    FUZZ_CHECK(ids[i] >= 0 && ids[i] < tokenizer.vocab_size());
    if (add_bos && i == 0) {
      FUZZ_CHECK(ids[0] == tokenizer.bos_id());
      continue;
    }
    FUZZ_CHECK(tokenizer.type(ids[i]) != TokenType::control && tokenizer.type(ids[i]) != TokenType::unknown);
  }
  std::string decoded = tokenizer.decode(ids);
  FUZZ_CHECK(decoded == expected_round_trip(text));
  FUZZ_CHECK(stream_decode(tokenizer, ids) == decoded);
}

void check_ids(const SentencePieceTokenizer& tokenizer, std::string_view bytes) {
  std::vector<std::int32_t> ids;
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
    const auto raw = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[i]) | static_cast<unsigned char>(bytes[i + 1]) << 8);
    ids.push_back(static_cast<std::int32_t>(raw % (tokenizer.vocab_size() + 16)));  // a few past the end
  }
  std::string decoded;
  try {
    decoded = tokenizer.decode(ids);
  } catch (const std::out_of_range&) {
    bool stream_refused = false;
    try {
      stream_decode(tokenizer, ids);
    } catch (const std::out_of_range&) {
      stream_refused = true;
    }
    FUZZ_CHECK(stream_refused);
    return;
  }
  FUZZ_CHECK(is_valid_utf8(decoded));
  FUZZ_CHECK(stream_decode(tokenizer, ids) == decoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned flags = data[0];
  const SentencePieceTokenizer& tokenizer = vocabulary(flags & 1);
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (flags & 4) check_ids(tokenizer, rest);
  else check_text(tokenizer, rest, flags & 2);
  return 0;
}
