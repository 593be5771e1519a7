// A whole answer assembled from ChatEvents: what the JSON writer serialises and Provider::chat() returns.
#pragma once

#include <optional>
#include <vector>

#include "core/chat_event.h"
#include "core/chat_request.h"

namespace mg {

struct ChoiceResult {
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::optional<FinishReason> finish_reason;
  std::string native_finish_reason;
  std::string stop_sequence{};  // ChoiceFinished::stop_sequence
};

struct Completion {
  std::vector<ChoiceResult> choices;
  std::optional<UsageReport> usage;
  std::vector<std::vector<double>> embeddings{};  // by input index: an embedding request's answer
};

// Folds events into a Completion. Tool-call fragments are merged by (choice, index).
class CompletionAccumulator {
 public:
  void add(const ChatEvent& event);

  const Completion& completion() const { return completion_; }
  Completion take() { return std::move(completion_); }
  bool done() const { return done_; }
  const std::optional<Error>& failure() const { return failure_; }

 private:
  ChoiceResult& choice(int index);

  Completion completion_;
  bool done_ = false;
  std::optional<Error> failure_;
};

}  // namespace mg
