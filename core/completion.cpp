#include "core/completion.h"

#include <algorithm>

namespace mg {

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::tool_calls: return "tool_calls";
    case FinishReason::content_filter: return "content_filter";
    case FinishReason::error: return "error";
  }
  return "stop";
}

ChoiceResult& CompletionAccumulator::choice(int index) {
  std::size_t wanted = static_cast<std::size_t>(std::max(index, 0)) + 1;
  if (completion_.choices.size() < wanted) completion_.choices.resize(wanted);
  return completion_.choices[wanted - 1];
}

void CompletionAccumulator::add(const ChatEvent& event) {
  struct Visitor {
    CompletionAccumulator& self;
    void operator()(const TextDelta& delta) { self.choice(delta.choice).text += delta.text; }
    void operator()(const ToolCallDelta& delta) {
      auto& calls = self.choice(delta.choice).tool_calls;
      std::size_t wanted = static_cast<std::size_t>(std::max(delta.index, 0)) + 1;
      if (calls.size() < wanted) calls.resize(wanted);
      ToolCall& call = calls[wanted - 1];
      if (!delta.id.empty()) call.id = delta.id;
      if (!delta.name.empty()) call.name = delta.name;
      call.arguments += delta.arguments;
    }
    void operator()(const UsageReport& usage) { self.completion_.usage = usage; }
    void operator()(const ChoiceFinished& finished) {
      ChoiceResult& result = self.choice(finished.choice);
      result.finish_reason = finished.reason;
      result.native_finish_reason = finished.native_reason;
      result.stop_sequence = finished.stop_sequence;
    }
    void operator()(const EmbeddingVector& vector) {
      auto& embeddings = self.completion_.embeddings;
      std::size_t wanted = static_cast<std::size_t>(std::max(vector.index, 0)) + 1;
      if (embeddings.size() < wanted) embeddings.resize(wanted);
      embeddings[wanted - 1] = vector.values;
    }
    void operator()(const UpstreamComment&) {}
    void operator()(const StreamDone&) { self.done_ = true; }
    void operator()(const StreamFailed& failed) { self.failure_ = failed.error; }
  };
  std::visit(Visitor{*this}, event);
}

}  // namespace mg
