// The shared half of the answer formats whose streams are made of segments that open, grow and close:
// Anthropic's content blocks and the Responses API's output items. It sorts a stream's events (only the
// first choice: both APIs answer one) and keeps how the answer finished and its usage; a format says
// what opening, growing and closing a segment write.
#pragma once

#include <string>

#include "gateway/completion_writers.h"

namespace mg::gateway {

class SegmentedAnswerFormat : public AnswerFormat {
 public:
  std::string stream_event(const ChatEvent& event) final {
    std::string out;
    if (auto text = std::get_if<TextDelta>(&event); text && text->choice == 0 && !text->text.empty()) {
      add_text(out, text->text);
    } else if (auto call = std::get_if<ToolCallDelta>(&event); call && call->choice == 0) {
      add_tool_call(out, *call);
    } else if (auto finished = std::get_if<ChoiceFinished>(&event); finished && finished->choice == 0) {
      close_segment(out);
      finish_ = *finished;
    } else if (auto usage = std::get_if<UsageReport>(&event)) {
      usage_ = *usage;
    }
    return out;
  }

 protected:
  // Writes what a piece of text adds: the segment it opens, if any, and the delta.
  virtual void add_text(std::string& out, const std::string& text) = 0;
  // Likewise for a fragment of a tool call.
  virtual void add_tool_call(std::string& out, const ToolCallDelta& call) = 0;
  // Closes the open segment, if any.
  virtual void close_segment(std::string& out) = 0;

  ChoiceFinished finish_;
  UsageReport usage_;
};

}  // namespace mg::gateway
