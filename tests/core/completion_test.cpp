#include "core/completion.h"

#include <gtest/gtest.h>

namespace mg {
namespace {

TEST(CompletionAccumulatorTest, MergesTextAndToolCallFragmentsPerChoice) {
  CompletionAccumulator accumulator;
  accumulator.add(TextDelta{0, "Hel"});
  accumulator.add(TextDelta{1, "Other"});
  accumulator.add(TextDelta{0, "lo"});
  accumulator.add(ToolCallDelta{0, 0, "call_a", "f", ""});
  accumulator.add(ToolCallDelta{0, 1, "call_b", "g", "{\"y\""});
  accumulator.add(ToolCallDelta{0, 0, "", "", "{\"x\":1}"});
  accumulator.add(ToolCallDelta{0, 1, "", "", ":2}"});
  accumulator.add(ChoiceFinished{0, FinishReason::tool_calls, "tool_use"});
  accumulator.add(UsageReport{7, 3, 2});
  EXPECT_FALSE(accumulator.done());
  accumulator.add(StreamDone{});
  EXPECT_TRUE(accumulator.done());
  const Completion& completion = accumulator.completion();
  ASSERT_EQ(completion.choices.size(), 2u);
  EXPECT_EQ(completion.choices[0].text, "Hello");
  EXPECT_EQ(completion.choices[1].text, "Other");
  ASSERT_EQ(completion.choices[0].tool_calls.size(), 2u);
  EXPECT_EQ(completion.choices[0].tool_calls[0].id, "call_a");
  EXPECT_EQ(completion.choices[0].tool_calls[0].arguments, "{\"x\":1}");
  EXPECT_EQ(completion.choices[0].tool_calls[1].name, "g");
  EXPECT_EQ(completion.choices[0].tool_calls[1].arguments, "{\"y\":2}");
  EXPECT_EQ(completion.choices[0].finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(completion.choices[0].native_finish_reason, "tool_use");
  EXPECT_EQ(completion.usage->cached_prompt_tokens, 2);
}

TEST(CompletionAccumulatorTest, KeepsTheFailure) {
  CompletionAccumulator accumulator;
  accumulator.add(TextDelta{0, "partial"});
  accumulator.add(StreamFailed{Error::upstream("boom", FailureClass::transient)});
  ASSERT_TRUE(accumulator.failure());
  EXPECT_EQ(accumulator.failure()->message, "boom");
  EXPECT_FALSE(accumulator.done());
}

}  // namespace
}  // namespace mg
