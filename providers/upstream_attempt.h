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

#include "formats/openai_response_decoder.h"
#include "providers/secret_redactor.h"
#include "core/sse_parser.h"

namespace mg {

struct UpstreamAttempt {
  static constexpr std::size_t kReadBufferBytes = 16 * 1024;

  UpstreamAttempt(ApiFlavor flavor, std::int64_t estimated_prompt_tokens, std::string_view api_key, SseParser::EventHandler on_event,
                  SseParser::CommentHandler on_comment)
      : sse(std::move(on_event), std::move(on_comment)), decoder(flavor, estimated_prompt_tokens), redactor(api_key) {
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
  OpenAiResponseDecoder decoder;
  SecretRedactor redactor;  // of the events decoded from this attempt's answer
};

}  // namespace mg
