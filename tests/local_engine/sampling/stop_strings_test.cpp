#include "local_engine/sampling/stop_strings.h"

#include <gtest/gtest.h>

namespace mg::engine {
namespace {

std::string run(StopStringMatcher& matcher, const std::vector<std::string>& pieces, bool* stopped = nullptr) {
  std::string out;
  for (const std::string& piece : pieces) {
    auto step = matcher.feed(piece);
    out += step.text;
    if (step.stopped) {
      if (stopped) *stopped = true;
      return out;
    }
  }
  return out + matcher.flush();
}

TEST(StopStringsTest, CatchesAStopSplitAcrossTokens) {
  StopStringMatcher matcher({"STOP"});
  bool stopped = false;
  EXPECT_EQ(run(matcher, {"Hel", "lo S", "T", "OP and more"}, &stopped), "Hello ");
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(matcher.feed("later").stopped);
}

TEST(StopStringsTest, HoldsBackOnlyWhatCouldStillBecomeAStop) {
  StopStringMatcher matcher({"</end>"});
  auto step = matcher.feed("text </e");
  EXPECT_EQ(step.text, "text ");
  step = matcher.feed("nvelope");
  EXPECT_EQ(step.text, "</envelope");
  EXPECT_FALSE(step.stopped);
  EXPECT_EQ(matcher.feed("</").text, "");
  EXPECT_EQ(matcher.flush(), "</");  // generation ended before the stop completed
}

TEST(StopStringsTest, TheEarliestOfSeveralStopsWinsAndIsNamed) {
  StopStringMatcher matcher({"world", "lo w", ""});
  auto step = matcher.feed("hello world");
  EXPECT_EQ(step.text, "hel");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.stop, "lo w");  // what Anthropic's stop_sequence reports
}

TEST(StopStringsTest, MultiByteStopsSplitInsideACharacter) {
  StopStringMatcher matcher({"\xe3\x80\x82"});  // "。"
  bool stopped = false;
  EXPECT_EQ(run(matcher, {"\xe4\xbd\xa0\xe5\xa5\xbd\xe3", "\x80", "\x82\xe5\x86\x8d"}, &stopped), "\xe4\xbd\xa0\xe5\xa5\xbd");
  EXPECT_TRUE(stopped);
}

TEST(StopStringsTest, WithoutStopsEverythingPassesAtOnce) {
  StopStringMatcher matcher({});
  EXPECT_EQ(matcher.feed("abc").text, "abc");
  EXPECT_EQ(matcher.flush(), "");
}

}  // namespace
}  // namespace mg::engine
