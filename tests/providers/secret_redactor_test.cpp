// The upstream key's redaction in what an upstream says: whole strings (redact_secret), and event streams
// whose text may split the key anywhere (SecretRedactor), for content and tool-call arguments, per choice.
#include "providers/secret_redactor.h"

#include <algorithm>
#include <map>
#include <random>

#include <gtest/gtest.h>

namespace mg {
namespace {

constexpr std::string_view kKey = "sk-abc123";

ChoiceFinished finished(int choice) { return ChoiceFinished{choice, FinishReason::stop, {}}; }

// Each piece a TextDelta of `choice`, one batch each, then the choice's finish and the stream's end; what
// comes out, the deltas' text joined.
std::string stream_through(SecretRedactor& redactor, const std::vector<std::string>& pieces, int choice = 0) {
  std::vector<ChatEvent> out;
  for (const std::string& piece : pieces) {
    std::vector<ChatEvent> batch{TextDelta{choice, piece}};
    redactor.redact(batch);
    out.insert(out.end(), batch.begin(), batch.end());
  }
  std::vector<ChatEvent> end{finished(choice), StreamDone{}};
  redactor.redact(end);
  out.insert(out.end(), end.begin(), end.end());
  EXPECT_TRUE(std::holds_alternative<StreamDone>(out.back())) << "the terminal event stays last";
  EXPECT_TRUE(std::holds_alternative<ChoiceFinished>(out[out.size() - 2])) << "held text comes back before the finish";
  std::string text;
  for (const ChatEvent& event : out) {
    if (auto* delta = std::get_if<TextDelta>(&event)) text += delta->text;
  }
  return text;
}

std::string streamed(std::string_view secret, const std::vector<std::string>& pieces) {
  SecretRedactor redactor(secret);
  return stream_through(redactor, pieces);
}

std::string whole(std::string text, std::string_view secret) {
  redact_secret(text, secret);
  return text;
}

TEST(RedactSecretTest, ReplacesEveryOccurrenceAnywhere) {
  EXPECT_EQ(whole("sk-abc123", kKey), "[redacted]");
  EXPECT_EQ(whole("sk-abc123 leads", kKey), "[redacted] leads");
  EXPECT_EQ(whole("trails sk-abc123", kKey), "trails [redacted]");
  EXPECT_EQ(whole("sk-abc123sk-abc123 and sk-abc123", kKey), "[redacted][redacted] and [redacted]");
  EXPECT_EQ(whole("aaab", "aab"), "a[redacted]");
  EXPECT_EQ(whole("sk-abc12 is not it", kKey), "sk-abc12 is not it");
  EXPECT_EQ(whole("anything", ""), "anything");
}

TEST(RedactSecretTest, ASecretInsideTheMarkerEndsTheSearch) {
  EXPECT_EQ(whole("red", "red"), "[redacted]");  // not replaced again inside "[redacted]", forever
  EXPECT_EQ(whole("d d", "d"), "[redacted] [redacted]");
}

TEST(SecretPrefixTailTest, TheLongestTailThatBeginsTheSecret) {
  EXPECT_EQ(secret_prefix_tail("nothing here", kKey), 0u);
  EXPECT_EQ(secret_prefix_tail("ends with s", kKey), 1u);
  EXPECT_EQ(secret_prefix_tail("ends with sk-abc12", kKey), 8u);
  EXPECT_EQ(secret_prefix_tail("sk-abc123", kKey), 0u) << "the whole secret is not a tail to hold: it is redacted";
  EXPECT_EQ(secret_prefix_tail("aaa", "aab"), 2u) << "overlapping prefixes: the longest wins";
  EXPECT_EQ(secret_prefix_tail("a", "a"), 0u) << "a one-byte secret never needs holding";
  EXPECT_EQ(secret_prefix_tail("", kKey), 0u);
}

TEST(SecretRedactorTest, AKeySplitInTwoAtEveryPositionIsRedacted) {
  const std::string text = "before sk-abc123 after";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    EXPECT_EQ(streamed(kKey, {text.substr(0, cut), text.substr(cut)}), "before [redacted] after") << "cut at " << cut;
  }
}

TEST(SecretRedactorTest, AKeySplitInThreeAtEveryPairOfPositionsIsRedacted) {
  const std::string text = "sk-abc123 x sk-abc123";
  for (std::size_t first = 0; first <= text.size(); ++first) {
    for (std::size_t second = first; second <= text.size(); ++second) {
      EXPECT_EQ(streamed(kKey, {text.substr(0, first), text.substr(first, second - first), text.substr(second)}), "[redacted] x [redacted]")
          << "cuts at " << first << " and " << second;
    }
  }
}

TEST(SecretRedactorTest, ByteByByteMatchesWholeRedaction) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sk-abc123", std::string(kKey)},       {"leads sk-abc123", std::string(kKey)}, {"sk-abc123sk-abc123", std::string(kKey)},
      {"sk-sk-abc123", std::string(kKey)},    {"aaab", "aab"},                        {"ababab", "abab"},
      {"sk-abc12", std::string(kKey)},        {"s", std::string(kKey)},
  };
  for (const auto& [text, secret] : cases) {
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    EXPECT_EQ(streamed(secret, bytes), whole(text, secret)) << text << " / " << secret;
  }
}

// Random texts over a two-letter alphabet, where prefixes of a self-overlapping secret abound, cut at
// random: the stream says what the whole text says once redacted.
TEST(SecretRedactorTest, RandomSplitsOfOverlappingTextsMatchWholeRedaction) {
  std::mt19937 random(7);
  for (std::string secret : {"aab", "abab", "aaaa"}) {
    for (int round = 0; round < 500; ++round) {
      std::string text;
      for (int i = std::uniform_int_distribution<int>(0, 24)(random); i > 0; --i) text += "ab"[random() % 2];
      std::vector<std::string> pieces;
      for (std::size_t at = 0; at < text.size();) {
        std::size_t size = std::uniform_int_distribution<std::size_t>(1, 4)(random);
        pieces.push_back(text.substr(at, size));
        at += size;
      }
      ASSERT_EQ(streamed(secret, pieces), whole(text, secret)) << text << " / " << secret;
    }
  }
}

TEST(SecretRedactorTest, AHeldTailIsReleasedAtTheEndOfTheStream) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> batch{TextDelta{0, "it ends with sk-ab"}};
  redactor.redact(batch);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(std::get<TextDelta>(batch[0]).text, "it ends with ") << "the possible key's start waits";
  std::vector<ChatEvent> end{StreamDone{}};
  redactor.redact(end);
  ASSERT_EQ(end.size(), 2u);
  EXPECT_EQ(std::get<TextDelta>(end[0]).text, "sk-ab");
  EXPECT_TRUE(std::holds_alternative<StreamDone>(end[1]));
}

TEST(SecretRedactorTest, AHeldTailIsReleasedBeforeAFailureToo) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> batch{TextDelta{0, "sk-a"}, StreamFailed{Error::upstream("broke; key sk-abc123", FailureClass::transient)}};
  redactor.redact(batch);
  ASSERT_EQ(batch.size(), 2u) << "the delta all held leaves, and comes back before the failure";
  EXPECT_EQ(std::get<TextDelta>(batch[0]).text, "sk-a");
  EXPECT_EQ(std::get<StreamFailed>(batch[1]).error.message, "broke; key [redacted]");
}

TEST(SecretRedactorTest, ADeltaAllHeldLeavesTheBatchUntilTheNextShowsItIsNotTheKey) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> first{TextDelta{0, "sk-"}, UsageReport{1, 2, 0}};
  redactor.redact(first);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<UsageReport>(first[0]));
  std::vector<ChatEvent> second{TextDelta{0, "lite"}};
  redactor.redact(second);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(std::get<TextDelta>(second[0]).text, "sk-lite");
}

TEST(SecretRedactorTest, ChoicesAreSeparateStreams) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> events{TextDelta{0, "zero sk-ab"}, TextDelta{1, "one sk-abc"}, TextDelta{1, "1 no"}, TextDelta{0, "c123 end"},
                                finished(1), finished(0), StreamDone{}};
  redactor.redact(events);
  std::string texts[2];
  for (const ChatEvent& event : events) {
    if (auto* delta = std::get_if<TextDelta>(&event)) texts[delta->choice] += delta->text;
  }
  EXPECT_EQ(texts[0], "zero [redacted] end");
  EXPECT_EQ(texts[1], "one sk-abc1 no") << "choice 0's tail never joins choice 1's text";
}

TEST(SecretRedactorTest, AChoiceFinishReleasesOnlyThatChoicesTails) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> events{TextDelta{0, "zero s"}, TextDelta{1, "one s"}, finished(1)};
  redactor.redact(events);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(std::get<TextDelta>(events[2]).choice, 1);
  EXPECT_EQ(std::get<TextDelta>(events[2]).text, "s");
  EXPECT_TRUE(std::holds_alternative<ChoiceFinished>(events[3]));
  std::vector<ChatEvent> end{StreamDone{}};
  redactor.redact(end);
  ASSERT_EQ(end.size(), 2u);
  EXPECT_EQ(std::get<TextDelta>(end[0]).choice, 0);
  EXPECT_EQ(std::get<TextDelta>(end[0]).text, "s");
}

TEST(SecretRedactorTest, ToolCallArgumentsAreStreamsOfTheirOwn) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> events{ToolCallDelta{0, 0, "call_1", "lookup", "{\"key\":\"sk-ab"}, TextDelta{0, "sk-"},
                                ToolCallDelta{0, 1, "call_2", "sk-abc123", "{\"k\":\"sk-"}, ToolCallDelta{0, 0, "", "", "c123\"}"},
                                ToolCallDelta{0, 1, "", "", "x\"}"}, ChoiceFinished{0, FinishReason::tool_calls, {}}};
  redactor.redact(events);
  std::map<int, std::string> arguments;
  std::string text;
  for (const ChatEvent& event : events) {
    if (auto* call = std::get_if<ToolCallDelta>(&event)) arguments[call->index] += call->arguments;
    if (auto* delta = std::get_if<TextDelta>(&event)) text += delta->text;
  }
  // Call 0's held "sk-ab" went out when the choice moved on to its text; the rest of the key, when call 0
  // went on, is redacted from where it began.
  EXPECT_EQ(arguments[0], "{\"key\":\"sk-ab[redacted]\"}");
  EXPECT_EQ(arguments[1], "{\"k\":\"sk-x\"}");
  EXPECT_EQ(text, "sk-");
  EXPECT_EQ(std::get<ToolCallDelta>(events[0]).id, "call_1") << "a call's first fragment stays, its arguments all held or not";
  auto second_call = std::find_if(events.begin(), events.end(), [](const ChatEvent& event) {
    auto* call = std::get_if<ToolCallDelta>(&event);
    return call && call->id == "call_2";
  });
  ASSERT_NE(second_call, events.end());
  EXPECT_EQ(std::get<ToolCallDelta>(*second_call).name, "[redacted]");
}

// Writers whose answers are blocks in order (Anthropic's content blocks, the Responses API's items) need
// each stream's text whole before the next stream begins.
TEST(SecretRedactorTest, AHeldTailGoesOutBeforeTheChoiceMovesOnToAnotherStream) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> events{TextDelta{0, "Looking up the files"}, ToolCallDelta{0, 0, "call_1", "lookup", "{\"q\":\"s"},
                                ToolCallDelta{0, 1, "call_2", "lookup", "{}"}, ChoiceFinished{0, FinishReason::tool_calls, {}}};
  redactor.redact(events);
  std::vector<std::string> order;  // each event's stream, in order: "text", "0", "1", "finish"
  for (const ChatEvent& event : events) {
    if (auto* delta = std::get_if<TextDelta>(&event)) order.push_back("text:" + delta->text);
    if (auto* call = std::get_if<ToolCallDelta>(&event)) order.push_back(std::to_string(call->index) + ":" + call->arguments);
    if (std::holds_alternative<ChoiceFinished>(event)) order.push_back("finish");
  }
  EXPECT_EQ(order, (std::vector<std::string>{"text:Looking up the file", "text:s", "0:{\"q\":\"", "0:s", "1:{}", "finish"}));
}

TEST(SecretRedactorTest, OtherTextEventsAreRedactedWhole) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> events{UpstreamComment{" key sk-abc123"}, ChoiceFinished{0, FinishReason::stop, "sk-abc123"}};
  redactor.redact(events);
  EXPECT_EQ(std::get<UpstreamComment>(events[0]).text, " key [redacted]");
  EXPECT_EQ(std::get<ChoiceFinished>(events[1]).native_reason, "[redacted]");
}

TEST(SecretRedactorTest, AnEmptySecretPassesEverythingUntouched) {
  SecretRedactor redactor("");
  std::vector<ChatEvent> events{TextDelta{0, "sk-"}, ToolCallDelta{0, 0, "id", "name", "sk-"}, StreamDone{}};
  redactor.redact(events);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(std::get<TextDelta>(events[0]).text, "sk-");
  EXPECT_EQ(std::get<ToolCallDelta>(events[1]).arguments, "sk-");
}

TEST(SecretRedactorTest, TextThatCannotBeginTheKeyKeepsItsBuffer) {
  SecretRedactor redactor(kKey);
  std::vector<ChatEvent> events{TextDelta{0, "a delta long enough to live on the heap, and nothing like the key"}};
  const char* before = std::get<TextDelta>(events[0]).text.data();
  redactor.redact(events);
  EXPECT_EQ(std::get<TextDelta>(events[0]).text.data(), before) << "no copy, no reallocation";
}

}  // namespace
}  // namespace mg
