// libFuzzer target: an upstream's streamed answer, as OpenAiHttpProvider consumes it. The bytes go through
// SseParser whole and split into pieces at positions derived from the input (as the network may deliver
// them), with the provider's event limit and with a tight one; whole and split must give the same events,
// comments and outcome, and no event may outgrow the limit. The events' data then goes through
// OpenAiResponseDecoder into ChatEvents, and those into the CompletionAccumulator that assembles a
// non-streamed answer; the same bytes are also decoded as a whole non-streamed body. The input is the
// stream itself, so seeds are plain text/event-stream files.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/completion.h"
#include "formats/openai_response_decoder.h"
#include "core/sse_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Parsed {
  std::vector<mg::SseEvent> events;
  std::vector<std::string> comments;
  bool failed = false;
};

bool same_events(const std::vector<mg::SseEvent>& a, const std::vector<mg::SseEvent>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) { return x.event == y.event && x.data == y.data; });
}

// `split` chooses where the pieces end; 0 feeds the whole stream at once.
Parsed parse(const std::string& stream, std::size_t max_event_bytes, std::uint64_t split) {
  Parsed out;
  mg::SseParser parser([&](mg::SseEvent&& event) { out.events.push_back(std::move(event)); },
                       [&](std::string_view comment) { out.comments.emplace_back(comment); }, max_event_bytes);
  std::size_t at = 0;
  while (at < stream.size() && !out.failed) {
    std::size_t piece = split == 0 ? stream.size() : split % 23;  // empty pieces included
    split = split * 6364136223846793005ull + 1442695040888963407ull;
    piece = std::min(piece, stream.size() - at);
    out.failed = !parser.feed(std::string_view(stream).substr(at, piece)).ok();
    at += piece;
  }
  if (!out.failed) out.failed = !parser.feed({}).ok();  // an empty read changes nothing
  return out;
}

// What the provider does with a streamed answer's events, then what Provider::chat does with the ChatEvents.
void decode_stream(const Parsed& parsed, mg::ApiFlavor flavor) {
  mg::OpenAiResponseDecoder decoder(flavor, 7);
  std::vector<mg::ChatEvent> events;
  for (const mg::SseEvent& event : parsed.events) decoder.on_stream_data(event.data, events);
  if (!decoder.finished()) decoder.on_stream_end(events);
  FUZZ_CHECK(!events.empty() && mg::is_terminal(events.back()));
  mg::CompletionAccumulator accumulator;
  for (std::size_t i = 0; i < events.size(); ++i) {
    FUZZ_CHECK(mg::is_terminal(events[i]) == (i + 1 == events.size()));  // exactly one end, and last
    accumulator.add(events[i]);
  }
  FUZZ_CHECK(accumulator.done() != accumulator.failure().has_value());
}

void decode_body(const std::string& body, mg::ApiFlavor flavor) {
  mg::OpenAiResponseDecoder decoder(flavor, 7);
  std::vector<mg::ChatEvent> events;
  decoder.on_body(body, events);
  FUZZ_CHECK(decoder.finished() && !events.empty() && mg::is_terminal(events.back()));
  mg::CompletionAccumulator accumulator;
  for (const mg::ChatEvent& event : events) accumulator.add(event);
}

Parsed parse_checked(const std::string& stream, std::size_t max_event_bytes) {
  const std::uint64_t split = std::hash<std::string>{}(stream) | 1;
  Parsed whole = parse(stream, max_event_bytes, 0);
  Parsed pieces = parse(stream, max_event_bytes, split);
  FUZZ_CHECK(whole.failed == pieces.failed);
  FUZZ_CHECK(same_events(whole.events, pieces.events));
  FUZZ_CHECK(whole.comments == pieces.comments);
  for (const mg::SseEvent& event : whole.events) FUZZ_CHECK(event.data.size() <= max_event_bytes && event.event.size() <= max_event_bytes);
  return whole;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string stream(reinterpret_cast<const char*>(data), size);
  parse_checked(stream, 64);
  Parsed parsed = parse_checked(stream, 4 * 1024 * 1024);  // OpenAiHttpProvider's limit
  decode_stream(parsed, mg::ApiFlavor::chat);
  decode_stream(parsed, mg::ApiFlavor::completion);
  decode_body(stream, mg::ApiFlavor::chat);
  return 0;
}
