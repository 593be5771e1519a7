// What one attempt of an upstream call reads, parses and decodes, gathered so that starting an attempt
// clears all of it. The upstream client retries a pooled connection that turns out stale on a fresh one;
// nothing the failed attempt read (a truncated head left in the read buffer, a parser mid-message, a
// status) may then leak into the fresh connection's answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <memory>

#include "formats/answer_decoder.h"
#include "providers/secret_redactor.h"
#include "core/sse_parser.h"

namespace mg {

struct UpstreamAttempt {
  static constexpr std::size_t kReadBufferBytes = 16 * 1024;

  UpstreamAttempt(std::unique_ptr<AnswerDecoder> answer_decoder, std::string_view api_key, SseParser::EventHandler on_event,
                  SseParser::CommentHandler on_comment)
      : sse(std::move(on_event), std::move(on_comment)), decoder(std::move(answer_decoder)), redactor(api_key) {
    buffer.reserve(kReadBufferBytes);  // reads of 512 bytes (Beast's start) would take a system call per event
  }

  boost::beast::flat_buffer buffer;  // read from the connection, not yet parsed
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser;
  std::size_t bytes_sent = 0;  // of the request, on this attempt's connection
  bool head_received = false;  // the upstream answered (and may bill): from here on never retried
  unsigned status = 0;
  bool streaming = false;
  int retry_after_s = 0;
  std::string whole_body;  // of a non-streamed answer or an error
  SseParser sse;
  std::unique_ptr<AnswerDecoder> decoder;  // for the upstream's wire API
  SecretRedactor redactor;  // of the events decoded from this attempt's answer
};

}  // namespace mg
