#include "core/sse_parser.h"

#include <utility>

namespace mg {

// Whole lines at a time: a line that arrived complete is parsed where it lies, and only the piece a
// read cut off waits in line_ for the rest.
Status SseParser::feed(std::string_view bytes) {
  if (failed_) return Error::upstream("the event stream was already broken", FailureClass::transient);
  while (!bytes.empty()) {
    if (std::exchange(last_was_cr_, false) && bytes.front() == '\n') {  // the '\n' of a "\r\n" ends nothing new
      bytes.remove_prefix(1);
      continue;
    }
    std::size_t end = bytes.find_first_of("\r\n");
    std::string_view piece = bytes.substr(0, end);
    if (line_.size() + piece.size() + pending_.data.size() > max_event_bytes_) {
      failed_ = true;
      return Error::upstream("an upstream event exceeds " + std::to_string(max_event_bytes_) + " bytes", FailureClass::transient);
    }
    if (end == std::string_view::npos) {
      line_ += piece;
      break;
    }
    last_was_cr_ = bytes[end] == '\r';
    if (line_.empty()) {
      process_line(piece);
    } else {
      line_ += piece;
      process_line(line_);
      line_.clear();
    }
    bytes.remove_prefix(end + 1);
  }
  return Ok{};
}

void SseParser::process_line(std::string_view line) {
  if (line.empty()) return dispatch();
  if (line.front() == ':') {
    if (on_comment_) on_comment_(line.substr(1));
    return;
  }
  std::string_view field = line.substr(0, line.find(':'));
  std::string_view value = field.size() < line.size() ? line.substr(field.size() + 1) : std::string_view();
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data += value;
    has_data_ = true;
  } else if (field == "event") {
    pending_.event = std::string(value);
  }  // "id" and "retry" do not matter to a proxy that never reconnects; unknown fields are ignored
}

void SseParser::dispatch() {
  if (has_data_) on_event_(std::move(pending_));
  pending_ = SseEvent{};
  has_data_ = false;
}

}  // namespace mg
