// One message of an OpenAI chat request, read On-Demand by the chat parser (openai_wire_parse.cpp).
#pragma once

#include "core/chat_request.h"
#include "core/json_ondemand.h"

namespace mg {

// Throws SchemaViolation naming the field at fault, for the parse that owns the body to catch.
Message read_chat_message(ondemand::Value value, const ondemand::Path& path);

}  // namespace mg
