#include "formats/openai_response_decoder.h"

#include "formats/openai_wire.h"

namespace mg {
namespace {

// Choice and tool-call indices come from the upstream and index the gateway's per-choice and per-call
// state (the answer being assembled, the roles already sent): out of range they make the chunk malformed,
// never a huge allocation or a write out of bounds.
constexpr std::int64_t kMaxToolCallsPerChoice = 1024;

std::optional<int> index_in_range(std::optional<std::int64_t> index, std::int64_t fallback, std::int64_t limit) {
  std::int64_t value = index.value_or(fallback);
  if (value < 0 || value >= limit) return std::nullopt;
  return static_cast<int>(value);
}

Error index_out_of_range(const char* what, std::int64_t limit) {
  return Error::upstream("upstream sent a malformed chunk: a " + std::string(what) + " index outside 0.." + std::to_string(limit - 1),
                         FailureClass::transient);
}


UsageReport usage_report(const UsageFragment& usage) {
  UsageReport report;
  report.prompt_tokens = usage.prompt_tokens;
  report.completion_tokens = usage.completion_tokens;
  report.cached_prompt_tokens = usage.cached_prompt_tokens;
  return report;
}

}  // namespace

std::string_view OpenAiResponseDecoder::body_key(bool streamed) const {
  if (flavor_ != ApiFlavor::chat) return {};
  return streamed ? "delta" : "message";
}

std::optional<Error> OpenAiResponseDecoder::decode_choice(ChoiceFragment& choice, std::vector<ChatEvent>& out) {
  std::optional<int> choice_index = index_in_range(choice.index, 0, kMaxChoices);
  if (!choice_index) return index_out_of_range("choice", kMaxChoices);
  const int index = *choice_index;
  std::string text = choice.has_body ? std::move(choice.content) : std::move(choice.text);
  if (!text.empty()) {
    out.push_back(TextDelta{index, std::move(text)});
    ++content_events_;
  }
  for (ToolCallFragment& call : choice.tool_calls) {
    std::optional<int> call_index = index_in_range(call.index, static_cast<std::int64_t>(call.position), kMaxToolCallsPerChoice);
    if (!call_index) return index_out_of_range("tool call", kMaxToolCallsPerChoice);
    bool first = tool_calls_seen_.insert({index, *call_index}).second;
    out.push_back(ToolCallDelta{index, *call_index, first ? std::move(call.id) : "", first ? std::move(call.name) : "",
                                std::move(call.arguments)});
    ++content_events_;
  }
  if (!choice.finish_reason.empty()) {
    FinishReason reason = normalise_finish_reason(choice.finish_reason);
    out.push_back(ChoiceFinished{index, reason, std::move(choice.finish_reason)});
  }
  return std::nullopt;
}

bool OpenAiResponseDecoder::decode_choices(AnswerChunk& chunk, std::vector<ChatEvent>& out) {
  for (ChoiceFragment& choice : chunk.choices) {
    if (std::optional<Error> malformed = decode_choice(choice, out)) {
      fail(std::move(*malformed), out);
      return false;
    }
  }
  return true;
}

void OpenAiResponseDecoder::finish(std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  out.push_back(usage_ ? *usage_ : UsageReport{estimated_prompt_tokens_, content_events_, 0});
  out.push_back(StreamDone{});
}

void OpenAiResponseDecoder::fail(Error error, std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  out.push_back(StreamFailed{std::move(error)});
}

void OpenAiResponseDecoder::on_stream_data(std::string_view data, std::vector<ChatEvent>& out) {
  if (finished_) return;
  if (data == "[DONE]") return finish(out);
  std::optional<AnswerChunk> chunk = read_answer_chunk(data, body_key(true));
  if (!chunk) return fail(Error::upstream("upstream sent a malformed stream chunk", FailureClass::transient), out);
  if (chunk->error) return fail(upstream_error(*chunk->error), out);
  if (chunk->usage) usage_ = usage_report(*chunk->usage);
  decode_choices(*chunk, out);
}

void OpenAiResponseDecoder::on_stream_end(std::vector<ChatEvent>& out) {
  fail(Error::upstream("the upstream stream ended before [DONE]", FailureClass::transient), out);
}

void OpenAiResponseDecoder::on_body(std::string_view body, std::vector<ChatEvent>& out) {
  std::optional<AnswerChunk> document = read_answer_chunk(body, body_key(false));
  if (!document) return fail(Error::upstream("upstream answered with malformed JSON", FailureClass::transient), out);
  if (document->error) return fail(upstream_error(*document->error), out);
  if (!document->has_choices) return fail(Error::upstream("upstream answer has no choices", FailureClass::transient), out);
  if (!decode_choices(*document, out)) return;
  if (document->usage) usage_ = usage_report(*document->usage);
  finish(out);
}

}  // namespace mg
