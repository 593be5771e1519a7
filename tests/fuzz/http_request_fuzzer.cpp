// libFuzzer target: the raw bytes a client sends on a connection, read as the gateway's HttpSession reads
// them: empty lines before a request skipped (RFC 9112 2.2), Beast's request_parser<string_body> with the
// gateway's header and body limits (HttpLimits' defaults), requests one after another while the
// connection lasts (keep-alive, pipelining). A POST to /v1/chat/completions or /v1/completions then
// has its body parsed into a ChatRequest as Api::handle does. Checks: a request that parses keeps within
// the limits, and Beast writes it back as bytes that parse to the same method, target, version and body.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>

#include "gateway/server_config.h"
#include "formats/openai_wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace http = boost::beast::http;
using Parser = http::request_parser<http::string_body>;

constexpr int kMaxRequestsPerConnection = 8;  // enough to cover pipelining; the rest of the input is left unread

const mg::gateway::HttpLimits kLimits{};

std::size_t skip_empty_lines(std::string_view bytes) {
  std::size_t skip = 0;
  while (skip < bytes.size() && (bytes[skip] == '\r' || bytes[skip] == '\n')) ++skip;
  return skip;
}

// Feeds `bytes` to `parser` as Beast's read algorithms do when they are all the connection will ever
// bring: put() while it makes progress, put_eof() when it needs more. Returns the bytes consumed, or
// nullopt when the request is malformed, over a limit, or cut short.
std::optional<std::size_t> read_request(std::string_view bytes, Parser& parser) {
  std::size_t used = 0;
  while (!parser.is_done()) {
    boost::beast::error_code ec;
    std::size_t n = parser.put(boost::asio::const_buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more || (!ec && n == 0)) {
      parser.put_eof(ec);
      if (ec) return std::nullopt;
      break;
    }
    if (ec) return std::nullopt;
  }
  return parser.is_done() ? std::optional<std::size_t>(used) : std::nullopt;
}

void new_parser(std::optional<Parser>& parser) {
  parser.emplace();
  parser->header_limit(static_cast<std::uint32_t>(kLimits.max_header_bytes));
  parser->body_limit(kLimits.max_body_bytes);
}

// What Api::handle does with a completion request's body.
void handle(const http::request<http::string_body>& request) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (request.method() != http::verb::post || (path != "/v1/chat/completions" && path != "/v1/completions")) return;
  mg::ApiFlavor flavor = path == "/v1/completions" ? mg::ApiFlavor::completion : mg::ApiFlavor::chat;
  mg::Result<mg::ChatRequest> parsed = mg::parse_chat_request(request.body(), flavor);
  FUZZ_CHECK(parsed.ok() || parsed.error().http_status == 400);
}

// Beast writes the request back with its body framed by a Content-Length (how the client framed it is
// gone once the body is read: Beast's writer would trust the first Transfer-Encoding field where its
// parser took the last), and that must read back as the same request.
void check_round_trip(http::request<http::string_body> request) {
  request.erase(http::field::transfer_encoding);
  request.erase(http::field::content_length);
  // Framed by hand: prepare_payload() throws on a TRACE request with a body, which the parser accepts
  // (and the gateway answers like any request it does not serve).
  request.content_length(request.body().size());
  std::ostringstream written;
  written << request;
  const std::string text = written.str();
  std::optional<Parser> parser;
  new_parser(parser);
  parser->header_limit(static_cast<std::uint32_t>(text.size() + 1));  // the writer may spell headers longer
  FUZZ_CHECK(read_request(text, *parser).has_value());
  const auto& again = parser->get();
  FUZZ_CHECK(again.method_string() == request.method_string());
  FUZZ_CHECK(again.target() == request.target());
  FUZZ_CHECK(again.version() == request.version());
  FUZZ_CHECK(again.body() == request.body());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view connection(reinterpret_cast<const char*>(data), size);
  std::optional<Parser> parser;
  for (int i = 0; i < kMaxRequestsPerConnection && !connection.empty(); ++i) {
    connection.remove_prefix(skip_empty_lines(connection));
    if (connection.empty()) break;
    new_parser(parser);
    std::optional<std::size_t> used = read_request(connection, *parser);
    if (!used) break;  // the session answers 400, 413 or 431 and closes
    connection.remove_prefix(*used);
    http::request<http::string_body> request = parser->release();
    FUZZ_CHECK(request.body().size() <= kLimits.max_body_bytes);
    handle(request);
    check_round_trip(request);
    if (!request.keep_alive()) break;  // the session closes after its answer
  }
  return 0;
}
