// Validating parser: OpenAI embeddings request JSON -> ChatRequest (flavor embedding), read with
// simdjson's On-Demand API (core/json_ondemand.h) in one pass over the body.
#include "formats/ondemand_request.h"
#include "formats/openai_embeddings.h"

namespace mg {
namespace {

using nlohmann::json;
namespace od = ondemand;
using simdjson::ondemand::json_type;

constexpr std::int64_t kMaxTokenId = (std::int64_t{1} << 31) - 1;
constexpr std::int64_t kMaxDimensions = 65'536;

const char* kInputShape = "a string, an array of strings, an array of token ids or an array of token-id arrays";

std::vector<std::int64_t> read_token_ids(od::Value value, const od::Path& path) {
  std::vector<std::int64_t> tokens;
  od::for_each_element(value, path, [&](od::Value token, const od::Path& at) {
    if (tokens.size() == kMaxEmbeddingInputTokens) violate(path, "holds more than " + std::to_string(kMaxEmbeddingInputTokens) + " tokens");
    od::append_counted(tokens, od::integer(token, at, 0, kMaxTokenId));
  });
  if (tokens.empty()) violate(path, "must hold at least one token id");
  return tokens;
}

std::string read_text(od::Value value, const od::Path& path) {
  std::string text = od::string(value, path);
  if (text.empty()) violate(path, "must not be an empty string");
  return text;
}

// `input` in any of its four shapes; every element of an array has the first one's shape.
EmbeddingInput read_input(od::Value value, const od::Path& path) {
  EmbeddingInput input;
  json_type type = value.type();
  if (type == json_type::string) {
    od::append_counted(input.texts, read_text(value, path));
    return input;
  }
  if (type != json_type::array) od::wrong_type(path, kInputShape, value);
  std::optional<json_type> element_type;
  std::string first_type;
  std::vector<std::int64_t> lone_tokens;  // an array of token ids: one input
  od::for_each_element(value, path, [&](od::Value element, const od::Path& at) {
    json_type type_here = element.type();
    if (!element_type) {
      element_type = type_here;
      first_type = od::type_name(element);
    }
    if (type_here != *element_type) violate(at, "must be of the first input's type (" + first_type + "); input is " + kInputShape);
    if (type_here != json_type::number && input.count() == kMaxEmbeddingInputs) {
      violate(path, "holds more than " + std::to_string(kMaxEmbeddingInputs) + " inputs");
    }
    if (type_here == json_type::string) od::append_counted(input.texts, read_text(element, at));
    else if (type_here == json_type::array) od::append_counted(input.token_arrays, read_token_ids(element, at));
    else if (type_here == json_type::number) od::append_counted(lone_tokens, od::integer(element, at, 0, kMaxTokenId));
    else od::wrong_type(at, "a string, a token id or an array of token ids", element);
    if (lone_tokens.size() > kMaxEmbeddingInputTokens) violate(path, "holds more than " + std::to_string(kMaxEmbeddingInputTokens) + " tokens");
  });
  if (!element_type) violate(path, "must hold at least one input");
  if (!lone_tokens.empty()) input.token_arrays.push_back(std::move(lone_tokens));
  else input.batch = true;
  return input;
}

EmbeddingEncoding read_encoding(od::Value value, const od::Path& path) {
  const std::string name = od::string(value, path);
  if (name == "float") return EmbeddingEncoding::float_array;
  if (name == "base64") return EmbeddingEncoding::base64;
  violate(path, "must be \"float\" or \"base64\"; got \"" + name + "\"");
}

class RequestReader {
 public:
  RequestReader() { request_.flavor = ApiFlavor::embedding; }

  void read(od::Value root) {
    od::for_each_field(root, od::Path(), [&](std::string_view key, od::Value value, const od::Path& path) { field(key, value, path); });
    if (request_.model.empty()) violate("model", "is required");
    if (request_.embedding_input.count() == 0) violate("input", "is required");
    if (!extensions_.empty()) read_gateway_extensions(extensions_, request_);
  }

  ChatRequest take() { return std::move(request_); }

 private:
  void field(std::string_view key, od::Value value, const od::Path& path) {
    if (od::is_null(value)) return;
    if (key == "model") request_.model = od::string(value, path);
    else if (key == "input") request_.embedding_input = read_input(value, path);
    else if (key == "encoding_format") request_.embedding_encoding = read_encoding(value, path);
    else if (key == "dimensions") request_.dimensions = static_cast<int>(od::integer(value, path, 1, kMaxDimensions));
    else if (key == "user") request_.user = od::string(value, path);
    else if (key == "stream") read_stream(value, path);
    else if (is_gateway_extension(key)) od::set_member(extensions_, key, value);
    else od::set_member(request_.passthrough, key, value);  // input_type, truncate...: the route's own
  }

  void read_stream(od::Value value, const od::Path& path) {
    if (od::boolean(value, path)) violate(path, "is not supported: embeddings are answered whole; leave it out");
  }

  ChatRequest request_;
  json extensions_ = json::object();
};

}  // namespace

Result<ChatRequest> parse_embedding_request(std::string_view body, const JsonLimits& limits, std::size_t* parsed_bytes) {
  RequestReader reader;
  return read_ondemand_request(body, limits, parsed_bytes, reader);
}

}  // namespace mg
