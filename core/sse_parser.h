// An incremental parser for text/event-stream (the WHATWG server-sent events format), robust to any
// split of the input: bytes arrive as the network delivers them, events leave whole. Bounded: an event
// larger than the limit is an error, not an allocation.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace mg {

struct SseEvent {
  std::string event;  // the "event:" field, '' for the default "message"
  std::string data;   // "data:" lines joined with '\n'
};

class SseParser {
 public:
  using EventHandler = std::function<void(SseEvent&&)>;
  using CommentHandler = std::function<void(std::string_view)>;

  SseParser(EventHandler on_event, CommentHandler on_comment, std::size_t max_event_bytes = 4 * 1024 * 1024)
      : on_event_(std::move(on_event)), on_comment_(std::move(on_comment)), max_event_bytes_(max_event_bytes) {}

  // Consumes a piece of the stream. Returns an error (and stays failed) when an event grows too large.
  Status feed(std::string_view bytes);

 private:
  void process_line(std::string_view line);
  void dispatch();

  EventHandler on_event_;
  CommentHandler on_comment_;
  std::size_t max_event_bytes_;
  std::string line_;
  bool last_was_cr_ = false;  // a '\n' right after '\r' ends nothing new
  SseEvent pending_;
  bool has_data_ = false;
  bool failed_ = false;
};

}  // namespace mg
