// OpenAI wire JSON <-> ChatRequest. Parsing validates the whole request surface once, at the edge, and
// names the offending field in its error; serialising gives back the OpenAI JSON an upstream expects,
// including every field the gateway does not model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/chat_request.h"
#include "core/json_object_reader.h"
#include "core/result.h"

namespace mg {

struct JsonLimits {
  std::size_t max_depth = 64;  // nesting of objects and arrays
  std::size_t max_parsed_bytes = SIZE_MAX;  // heap the parse may build (core/json_ondemand.h)
};

// Parses a request body (JSON text) for the given endpoint flavor. `parsed_bytes`, when given, gets the
// heap the parse built: about what the typed request holds for as long as it is answered. Every client
// API's parser takes the same two.
Result<ChatRequest> parse_chat_request(std::string_view body, ApiFlavor flavor, const JsonLimits& limits = {},
                                       std::size_t* parsed_bytes = nullptr);

// A 400 when `text` nests objects and arrays deeper than `max_depth`, found in one pass over the text
// before any parser builds anything, so hostile input costs O(n).
Status check_nesting_depth(std::string_view text, std::size_t max_depth);

// Parses JSON text with a bounded nesting depth and heap, reporting the position of a syntax error.
Result<nlohmann::json> parse_json_document(std::string_view body, const JsonLimits& limits = {}, std::size_t* parsed_bytes = nullptr);

// The gateway's own request fields, which every client API's body may carry: OpenRouter's `models` and
// `provider`, and `modelgate`. `fields` is an object holding those members the body had. Throws
// SchemaViolation (json_object_reader.h), for the parse that owns the body to catch.
void read_gateway_extensions(const nlohmann::json& fields, ChatRequest& request);
inline bool is_gateway_extension(std::string_view key) { return key == "models" || key == "provider" || key == "modelgate"; }

// A function definition (name, description, parameters, strict): chat's `tools[].function`, and the
// Responses API's flat function tool. Throws SchemaViolation.
void read_function_definition(ObjectReader& function, Tool& tool);

// Every API's rules for tools, thrown as SchemaViolation naming `path`: a function name is 1 to 64 of
// a-z, A-Z, 0-9, '_' and '-'; a tool_choice names a function among the tools, and one that requires a
// call comes with tools.
void check_function_name(const std::string& name, const std::string& path);
void check_tool_choice(const std::optional<ToolChoice>& choice, const std::vector<Tool>& tools, const std::string& name_path);

// The request as OpenAI-compatible JSON (chat shape for chat, completion shape for completion).
nlohmann::json to_openai_json(const ChatRequest& request);

}  // namespace mg
