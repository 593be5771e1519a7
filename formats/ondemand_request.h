// The one way the newer client APIs' parsers run: a reader class walks the body's root object
// On-Demand (core/json_ondemand.h) and hands back the request it built.
#pragma once

#include <string_view>

#include "core/chat_request.h"
#include "core/json_ondemand.h"
#include "formats/openai_wire.h"

namespace mg {

// `reader` has read(ondemand::Value root), which throws on a violation, and take().
template <class Reader>
Result<ChatRequest> read_ondemand_request(std::string_view body, const JsonLimits& limits, Reader& reader) {
  if (Status depth = check_nesting_depth(body, limits.max_depth); !depth) return depth.error();
  Status read = ondemand::parse_with_ondemand(body, {}, [&](ondemand::Value root) { reader.read(root); });
  if (!read) return read.error();
  return reader.take();
}

}  // namespace mg
