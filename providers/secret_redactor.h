// Keeps an upstream's own API key out of what the upstream says: the upstream client passes every event
// of an answer (streamed or whole) through a SecretRedactor before the gateway sees it, so a hostile or
// compromised upstream that echoes its Authorization header reaches no client, ledger row or log.
// Streamed text may split the key across deltas, so each text stream (a choice's content, each of its
// tool calls' arguments) holds back the longest tail that could begin the key, and releases it as soon as
// the next delta shows it does not, or when the choice or the answer ends.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/chat_event.h"

namespace mg {

inline constexpr std::string_view kRedactedMarker = "[redacted]";

// Replaces every occurrence of `secret` in `text` with kRedactedMarker. Empty `secret`: nothing to do.
void redact_secret(std::string& text, std::string_view secret);

// The length of the longest tail of `text` that is a proper prefix of `secret` (a key that may go on in
// the next delta); 0 when there is none.
std::size_t secret_prefix_tail(std::string_view text, std::string_view secret);

class SecretRedactor {
 public:
  // `secret` (the provider's key) outlives the redactor; empty: every event passes untouched.
  explicit SecretRedactor(std::string_view secret) : secret_(secret) {}

  // Redacts one batch of events in order, in place. A delta may lose its possible-key tail (and leave the
  // batch if nothing else remains); held text comes back in a delta of its own stream before the choice
  // moves on to another of its streams (text to a tool call, one call to the next: writers whose answers
  // are blocks in order need each stream's text whole before the next begins), before that choice's
  // ChoiceFinished, or before the terminal event for every stream still holding. A stream that goes on
  // after its tail was released that way is checked with that tail in front: the key never appears whole.
  void redact(std::vector<ChatEvent>& events);

 private:
  // One text stream's held tail: a choice's content (tool_call -1) or one tool call's arguments.
  struct HeldTail {
    int choice = 0;
    int tool_call = -1;
    std::string text;
    std::string released{};  // released when the choice moved on; its stream's next delta is read after it
  };

  // False when the event, emptied by holding back its tail, should leave the batch.
  bool redact_event(ChatEvent& event);
  bool redact_stream_text(int choice, int tool_call, std::string& text);
  HeldTail* held_for(int choice, int tool_call);
  // Inserts, before `at`, a delta for each held tail of `choice` (every choice when -1) but the stream
  // `keep` (a tool call's index, -1 for content, kNoStream for none); returns how many.
  static constexpr int kNoStream = -2;
  std::size_t release_held(std::vector<ChatEvent>& events, std::size_t at, int choice, int keep = kNoStream);
  void read_after_released(HeldTail& held, std::string& text) const;

  std::string_view secret_;
  std::vector<HeldTail> held_;   // created on a stream's first possible match, then reused
  std::size_t holding_ = 0;      // how many of held_ hold text: 0 is the fast path
};

}  // namespace mg
