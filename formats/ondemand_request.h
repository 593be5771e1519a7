// The one way every client API's parser runs: a reader class walks the body's root object
// On-Demand (core/json_ondemand.h) and hands back the request it built.
#pragma once

#include <string_view>

#include "core/chat_request.h"
#include "core/json_ondemand.h"
#include "formats/openai_wire.h"

namespace mg {

// `reader` has read(ondemand::Value root), which throws on a violation, and take().
template <class Reader>
Result<ChatRequest> read_ondemand_request(std::string_view body, const JsonLimits& limits, std::size_t* parsed_bytes, Reader& reader) {
  if (Status depth = check_nesting_depth(body, limits.max_depth); !depth) return depth.error();
  ondemand::Limits budget;
  budget.max_parsed_bytes = limits.max_parsed_bytes;
  Status read = ondemand::parse_with_ondemand(body, budget, [&](ondemand::Value root) { reader.read(root); }, parsed_bytes);
  if (!read) return read.error();
  return reader.take();
}

}  // namespace mg
