// Anthropic Messages answers: a `message` object, or the event sequence message_start,
// content_block_start, ping, content_block_delta (text_delta, input_json_delta), content_block_stop,
// message_delta (stop_reason, usage), message_stop; failures as Anthropic's error object, in-band as
// `event: error` once the stream has begun.
#pragma once

#include <memory>

#include "gateway/completion_writers.h"

namespace mg::gateway {

std::unique_ptr<AnswerFormat> make_anthropic_format(const ResponseIdentity& identity);

// {"type":"error","error":{"type":...,"message":...}} with Anthropic's word for the status.
HttpReply anthropic_error_reply(const Error& error);

}  // namespace mg::gateway
