#include "local_engine/tokenizer/gguf_vocabulary.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace mg::engine {
namespace {

std::int32_t special_id(const GgufFile& file, const char* key, std::int32_t fallback) {
  auto id = file.get_uint(key);
  if (!id) return fallback;
  if (*id > static_cast<std::uint64_t>(INT32_MAX)) throw GgufError(file.name() + ": " + key + " is out of range");
  return static_cast<std::int32_t>(*id);
}

}  // namespace

Vocabulary vocabulary_from_gguf(const GgufFile& file) {
  auto model = file.get_string("tokenizer.ggml.model");
  if (!model) throw GgufError(file.name() + ": no tokenizer (tokenizer.ggml.model is missing)");
  if (*model != "llama") throw GgufError(file.name() + ": tokenizer '" + std::string(*model) + "' is not supported; expected 'llama' (SentencePiece BPE)");
  const GgufArray* tokens = file.get_array("tokenizer.ggml.tokens");
  if (!tokens || tokens->element_type != GgufType::string) throw GgufError(file.name() + ": tokenizer.ggml.tokens must be an array of strings");
  const GgufArray* scores = file.get_array("tokenizer.ggml.scores");
  const GgufArray* types = file.get_array("tokenizer.ggml.token_type");
  auto same_length = [&](const GgufArray* array, const char* key) {
    if (array && array->count != tokens->count) {
      throw GgufError(file.name() + ": " + key + " has " + std::to_string(array->count) + " entries for " + std::to_string(tokens->count) + " tokens");
    }
  };
  same_length(scores, "tokenizer.ggml.scores");
  same_length(types, "tokenizer.ggml.token_type");

  Vocabulary vocabulary;
  vocabulary.tokens.assign(tokens->strings.begin(), tokens->strings.end());
  vocabulary.scores.resize(tokens->count, 0.0f);
  vocabulary.types.resize(tokens->count, TokenType::normal);
  for (std::uint64_t i = 0; i < tokens->count; ++i) {
    if (scores) vocabulary.scores[i] = static_cast<float>(scores->number_at(i));
    if (types) vocabulary.types[i] = static_cast<TokenType>(types->integer_at(i));
  }
  vocabulary.bos_id = special_id(file, "tokenizer.ggml.bos_token_id", 1);
  vocabulary.eos_id = special_id(file, "tokenizer.ggml.eos_token_id", 2);
  vocabulary.unk_id = special_id(file, "tokenizer.ggml.unknown_token_id", 0);
  vocabulary.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
  vocabulary.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  try {
    validate_vocabulary(vocabulary);
  } catch (const std::invalid_argument& e) {
    throw GgufError(file.name() + ": the tokenizer is inconsistent: " + e.what());
  }
  return vocabulary;
}

// ---- SentencePiece's protobuf, the few fields we need -----------------------------------------------------

namespace {

// ModelProto: pieces = 1 (SentencePiece: piece = 1, score = 2, type = 3), trainer_spec = 2 (unk_id = 40,
// bos_id = 41, eos_id = 42), normalizer_spec = 3 (add_dummy_prefix = 3).
class Protobuf {
 public:
  Protobuf(std::string_view bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  bool done() const { return at_ >= bytes_.size(); }

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) break;
      auto byte = static_cast<unsigned char>(bytes_[at_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    throw std::runtime_error(name_ + ": not a SentencePiece model (bad varint)");
  }

  std::string_view take(std::uint64_t size) {
    if (size > bytes_.size() - at_) throw std::runtime_error(name_ + ": not a SentencePiece model (a field runs past the end)");
    std::string_view out = bytes_.substr(at_, size);
    at_ += size;
    return out;
  }

  // Reads one field: its number, and its payload as either a number or bytes.
  struct Field {
    std::uint64_t number;
    std::uint64_t integer = 0;
    std::string_view bytes;
  };
  Field next() {
    std::uint64_t key = varint();
    Field field{key >> 3, 0, {}};
    switch (key & 7) {
      case 0: field.integer = varint(); break;
      case 1: field.bytes = take(8); break;
      case 2: field.bytes = take(varint()); break;
      case 5: field.bytes = take(4); break;
      default: throw std::runtime_error(name_ + ": not a SentencePiece model (wire type " + std::to_string(key & 7) + ")");
    }
    return field;
  }

 private:
  std::string_view bytes_;
  const std::string& name_;
  std::size_t at_ = 0;
};

void read_piece(std::string_view bytes, const std::string& name, Vocabulary& vocabulary) {
  Protobuf piece(bytes, name);
  std::string text;
  float score = 0.0f;
  TokenType type = TokenType::normal;
  while (!piece.done()) {
    auto field = piece.next();
    if (field.number == 1) text = std::string(field.bytes);
    if (field.number == 2 && field.bytes.size() == 4) std::memcpy(&score, field.bytes.data(), 4);
    if (field.number == 3) type = static_cast<TokenType>(field.integer);
  }
  vocabulary.tokens.push_back(std::move(text));
  vocabulary.scores.push_back(score);
  vocabulary.types.push_back(type);
}

void read_specs(std::uint64_t spec, std::string_view bytes, const std::string& name, Vocabulary& vocabulary) {
  Protobuf message(bytes, name);
  while (!message.done()) {
    auto field = message.next();
    if (spec == 2 && field.number == 40) vocabulary.unk_id = static_cast<std::int32_t>(field.integer);
    if (spec == 2 && field.number == 41) vocabulary.bos_id = static_cast<std::int32_t>(field.integer);
    if (spec == 2 && field.number == 42) vocabulary.eos_id = static_cast<std::int32_t>(field.integer);
    if (spec == 3 && field.number == 3) vocabulary.add_space_prefix = field.integer != 0;
  }
}

}  // namespace

Vocabulary read_sentencepiece_model(const std::filesystem::path& path) {
  std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + name + "'");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Vocabulary vocabulary;
  Protobuf model(bytes, name);
  while (!model.done()) {
    auto field = model.next();
    if (field.number == 1) read_piece(field.bytes, name, vocabulary);
    if (field.number == 2 || field.number == 3) read_specs(field.number, field.bytes, name, vocabulary);
  }
  try {
    validate_vocabulary(vocabulary);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(name + ": not a usable SentencePiece model: " + e.what());
  }
  return vocabulary;
}

}  // namespace mg::engine
