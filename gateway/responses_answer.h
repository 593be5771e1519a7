// OpenAI Responses answers: a `response` object whose output items are a `message` (output_text) and
// `function_call`s, or the event stream response.created, response.in_progress, output_item.added,
// content_part.added, output_text.delta / function_call_arguments.delta, their .done events,
// output_item.done, and response.completed (response.incomplete at max_output_tokens); a failure after
// the first byte ends the stream with response.failed.
#pragma once

#include <memory>

#include "gateway/completion_writers.h"

namespace mg::gateway {

std::unique_ptr<AnswerFormat> make_responses_format(const ResponseIdentity& identity);

}  // namespace mg::gateway
