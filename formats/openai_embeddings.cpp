// The embeddings API's upstream side and the client's answer (the client's request: openai_embeddings_parse.cpp).
#include "formats/openai_embeddings.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include <openssl/evp.h>
#include <simdjson.h>

#include "core/json_text.h"

namespace mg {
namespace {

using nlohmann::json;
namespace od = simdjson::ondemand;

Error malformed_answer(const std::string& why) {
  return Error::upstream("upstream sent a malformed embeddings answer: " + why, FailureClass::transient);
}

json input_json(const EmbeddingInput& input) {
  if (!input.texts.empty()) return input.batch ? json(input.texts) : json(input.texts.front());
  return input.batch ? json(input.token_arrays) : json(input.token_arrays.front());
}

std::uint32_t float_bits(double value) { return std::bit_cast<std::uint32_t>(static_cast<float>(value)); }

// One vector: JSON numbers, or a base64 string of float32s.
std::vector<double> read_vector(od::value value) {
  if (value.type() == od::json_type::string) {
    Result<std::vector<double>> decoded = float32_from_base64(value.get_string().value());
    if (!decoded) throw std::runtime_error("an embedding is not base64 of float32 values");
    return std::move(decoded).value();
  }
  std::vector<double> values;
  for (double number : value.get_array()) {
    if (!(std::fabs(number) <= std::numeric_limits<float>::max())) throw std::runtime_error("a number outside float32's range");
    values.push_back(number);
  }
  return values;
}

// usage.prompt_tokens when it is a count; a null or odd usage is no usage (the estimate is billed).
std::optional<std::int64_t> prompt_tokens_of(od::value usage) {
  if (usage.type() != od::json_type::object) return std::nullopt;
  std::optional<std::int64_t> tokens;
  for (od::field count : usage.get_object()) {
    std::int64_t value = 0;
    if (count.unescaped_key().value() == "prompt_tokens" && !count.value().get_int64().get(value) && value >= 0) tokens = value;
  }
  return tokens;
}

EmbeddingVector read_item(od::value item, std::size_t position) {
  EmbeddingVector vector{static_cast<int>(position), {}};
  bool has_vector = false;
  for (od::field field : item.get_object()) {
    std::string_view key = field.unescaped_key().value();
    if (key == "index") {
      std::int64_t index = field.value().get_int64();
      if (index < 0 || index > std::numeric_limits<int>::max()) throw std::runtime_error("an index out of range");
      vector.index = static_cast<int>(index);
    } else if (key == "embedding") {
      vector.values = read_vector(field.value());
      has_vector = true;
    }
  }
  if (!has_vector || vector.values.empty()) throw std::runtime_error("an item without an embedding");
  return vector;
}

// The error's message; '' when it has none.
std::string error_message(od::value error) {
  if (error.type() == od::json_type::string) return std::string(error.get_string().value());
  for (od::field field : error.get_object()) {
    if (field.unescaped_key().value() == "message" && field.value().type() == od::json_type::string) {
      return std::string(field.value().get_string().value());
    }
  }
  return {};
}

// Every vector of the answer, in order of input; throws what is wrong with it.
struct DecodedAnswer {
  std::vector<EmbeddingVector> vectors;
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::string> error;  // the upstream said it failed
};

DecodedAnswer read_answer(std::string_view body) {
  od::parser parser;
  simdjson::padded_string padded(body);
  od::document document = parser.iterate(padded);
  DecodedAnswer answer;
  for (od::field field : document.get_object()) {
    std::string_view key = field.unescaped_key().value();
    if (key == "data") {
      std::size_t position = 0;
      for (od::value item : field.value().get_array()) answer.vectors.push_back(read_item(item, position++));
    } else if (key == "usage") {
      answer.prompt_tokens = prompt_tokens_of(field.value());
    } else if (key == "error" && field.value().type() != od::json_type::null) {
      answer.error = error_message(field.value());
    }
  }
  return answer;
}

// Places each vector at its input's index: exactly one for each input.
std::optional<std::string> misfit(std::vector<EmbeddingVector>& vectors, std::size_t input_count) {
  if (vectors.size() != input_count) {
    return std::to_string(vectors.size()) + " vectors for " + std::to_string(input_count) + " inputs";
  }
  std::vector<bool> seen(input_count, false);
  for (const EmbeddingVector& vector : vectors) {
    auto index = static_cast<std::size_t>(vector.index);
    if (index >= input_count || seen[index]) return "vector index " + std::to_string(index) + " out of place";
    seen[index] = true;
  }
  std::sort(vectors.begin(), vectors.end(), [](const EmbeddingVector& a, const EmbeddingVector& b) { return a.index < b.index; });
  return std::nullopt;
}

}  // namespace

json to_openai_embedding_json(const ChatRequest& request) {
  json body = request.passthrough;
  body["input"] = input_json(request.embedding_input);
  if (request.embedding_encoding) body["encoding_format"] = *request.embedding_encoding == EmbeddingEncoding::base64 ? "base64" : "float";
  if (request.dimensions) body["dimensions"] = *request.dimensions;
  if (!request.user.empty()) body["user"] = request.user;
  return body;
}

void decode_embedding_answer(std::string_view body, std::size_t input_count, std::int64_t estimated_prompt_tokens, std::vector<ChatEvent>& out) {
  DecodedAnswer answer;
  try {
    answer = read_answer(body);
  } catch (const std::exception& e) {  // simdjson's errors, and read_answer's own
    out.push_back(StreamFailed{malformed_answer(e.what())});
    return;
  }
  if (answer.error) return out.push_back(StreamFailed{upstream_error(*answer.error)});
  if (auto wrong = misfit(answer.vectors, input_count)) return out.push_back(StreamFailed{malformed_answer(*wrong)});
  for (EmbeddingVector& vector : answer.vectors) out.push_back(std::move(vector));
  UsageReport usage;
  usage.prompt_tokens = answer.prompt_tokens.value_or(estimated_prompt_tokens);
  out.push_back(usage);
  out.push_back(StreamDone{});
}

void EmbeddingAnswerDecoder::on_stream_data(std::string_view, std::vector<ChatEvent>& out) { on_stream_end(out); }

void EmbeddingAnswerDecoder::on_stream_end(std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  out.push_back(StreamFailed{malformed_answer("an event stream; embeddings are answered whole")});
}

void EmbeddingAnswerDecoder::on_body(std::string_view body, std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  decode_embedding_answer(body, input_count_, estimated_prompt_tokens_, out);
}

std::string float32_base64(const std::vector<double>& values) {
  std::string bytes(values.size() * 4, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::uint32_t bits = float_bits(values[i]);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);  // little-endian, whatever the host
  }
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(written));
  return text;
}

Result<std::vector<double>> float32_from_base64(std::string_view text) {
  auto invalid = [] { return Error::upstream("an embedding is not base64 of float32 values", FailureClass::transient); };
  if (text.empty() || text.size() % 4 != 0) return invalid();
  std::string bytes(text.size() / 4 * 3, '\0');
  int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (decoded < 0) return invalid();
  std::size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;  // EVP_DecodeBlock counts it as zero bytes
  std::size_t size = static_cast<std::size_t>(decoded) - padding;
  if (size % 4 != 0) return invalid();
  std::vector<double> values(size / 4);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) bits |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    float value = std::bit_cast<float>(bits);
    if (!std::isfinite(value)) return invalid();
    values[i] = value;
  }
  return values;
}

std::string embedding_list_json(const std::vector<std::vector<double>>& vectors, EmbeddingEncoding encoding, std::string_view model,
                                const UsageReport& usage, double cost_usd) {
  std::string out = R"({"object":"list","data":[)";
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    if (i > 0) out += ',';
    out += R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":)";
    if (encoding == EmbeddingEncoding::base64) {
      out += '"' + float32_base64(vectors[i]) + '"';
    } else {
      out += '[';
      for (std::size_t j = 0; j < vectors[i].size(); ++j) {
        if (j > 0) out += ',';
        append_json_number(out, vectors[i][j]);
      }
      out += ']';
    }
    out += '}';
  }
  out += R"(],"model":)";
  if (!append_json_string(out, model)) append_json(out, json(std::string(model)));
  std::string tokens = std::to_string(usage.prompt_tokens);
  out += R"(,"usage":{"prompt_tokens":)" + tokens + R"(,"total_tokens":)" + tokens + R"(,"cost":)";
  append_json_number(out, cost_usd);
  out += "}}";
  return out;
}

}  // namespace mg
