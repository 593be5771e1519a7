#include "providers/secret_redactor.h"

#include <algorithm>

namespace mg {

void redact_secret(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  // Searching on after the marker, not from where it starts: a secret found inside the marker would
  // otherwise be replaced forever.
  for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + kRedactedMarker.size())) {
    text.replace(at, secret.size(), kRedactedMarker);
  }
}

std::size_t secret_prefix_tail(std::string_view text, std::string_view secret) {
  if (secret.size() < 2) return 0;  // a one-byte secret is whole in any delta that holds it
  std::size_t window = std::min(text.size(), secret.size() - 1);
  // The earliest tail start that begins a prefix gives the longest tail; only the secret's first byte can
  // start one, so a delta without it in its last bytes costs one memchr.
  for (std::size_t at = text.find(secret.front(), text.size() - window); at != std::string_view::npos;
       at = text.find(secret.front(), at + 1)) {
    if (secret.starts_with(text.substr(at))) return text.size() - at;
  }
  return 0;
}

void SecretRedactor::redact(std::vector<ChatEvent>& events) {
  if (secret_.empty()) return;
  for (std::size_t i = 0; i < events.size();) {
    if (holding_ > 0) {
      if (auto* finished = std::get_if<ChoiceFinished>(&events[i])) i += release_held(events, i, finished->choice);
      else if (is_terminal(events[i])) i += release_held(events, i, -1);
      else if (auto* text = std::get_if<TextDelta>(&events[i])) i += release_held(events, i, text->choice, -1);
      else if (auto* call = std::get_if<ToolCallDelta>(&events[i])) i += release_held(events, i, call->choice, call->index);
    }
    if (redact_event(events[i])) ++i;
    else events.erase(events.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

bool SecretRedactor::redact_event(ChatEvent& event) {
  if (auto* delta = std::get_if<TextDelta>(&event)) return redact_stream_text(delta->choice, -1, delta->text);
  if (auto* call = std::get_if<ToolCallDelta>(&event)) {
    redact_secret(call->id, secret_);
    redact_secret(call->name, secret_);
    // A call's first fragment names it, and stays even when all its arguments so far are held back.
    return redact_stream_text(call->choice, call->index, call->arguments) || !call->id.empty() || !call->name.empty();
  }
  if (auto* finished = std::get_if<ChoiceFinished>(&event)) redact_secret(finished->native_reason, secret_);
  else if (auto* comment = std::get_if<UpstreamComment>(&event)) redact_secret(comment->text, secret_);
  else if (auto* failed = std::get_if<StreamFailed>(&event)) redact_secret(failed->error.message, secret_);
  return true;
}

// False when the text, non-empty before, is now all held back.
bool SecretRedactor::redact_stream_text(int choice, int tool_call, std::string& text) {
  if (text.empty()) return true;
  HeldTail* held = held_.empty() ? nullptr : held_for(choice, tool_call);
  if (held && !held->released.empty()) read_after_released(*held, text);
  if (held && !held->text.empty()) {
    text.insert(0, held->text);
    held->text.clear();
    --holding_;
  }
  redact_secret(text, secret_);
  std::size_t tail = secret_prefix_tail(text, secret_);
  if (tail == 0) return true;
  if (!held) held = held_for(choice, tool_call);
  if (!held) held = &held_.emplace_back(HeldTail{choice, tool_call, {}});
  held->text.assign(text, text.size() - tail);
  text.resize(text.size() - tail);
  ++holding_;
  return !text.empty();
}

SecretRedactor::HeldTail* SecretRedactor::held_for(int choice, int tool_call) {
  for (HeldTail& held : held_) {
    if (held.choice == choice && held.tool_call == tool_call) return &held;
  }
  return nullptr;
}

// The client already has `held.released`, which may begin the key: the key completed by `text` is
// redacted from where it began, so the client gets the marker in place of the rest of it.
void SecretRedactor::read_after_released(HeldTail& held, std::string& text) const {
  std::string joined = held.released + text;
  redact_secret(joined, secret_);
  std::size_t kept = 0;  // how much of the released text came through the redaction unchanged
  while (kept < held.released.size() && kept < joined.size() && joined[kept] == held.released[kept]) ++kept;
  text = joined.substr(kept);
  held.released.clear();
}

std::size_t SecretRedactor::release_held(std::vector<ChatEvent>& events, std::size_t at, int choice, int keep) {
  std::size_t released = 0;
  for (HeldTail& held : held_) {
    if (held.text.empty() || (choice >= 0 && held.choice != choice) || held.tool_call == keep) continue;
    if (keep != kNoStream) held.released = held.text;  // the stream may go on: read what follows after it
    ChatEvent delta = held.tool_call < 0 ? ChatEvent(TextDelta{held.choice, std::move(held.text)})
                                         : ChatEvent(ToolCallDelta{held.choice, held.tool_call, {}, {}, std::move(held.text)});
    held.text.clear();  // moved from: empty it for certain before it holds again
    events.insert(events.begin() + static_cast<std::ptrdiff_t>(at + released++), std::move(delta));
    --holding_;
  }
  return released;
}

}  // namespace mg
