// The framing and header rules a request must meet before its body is read, beyond what Beast's parser
// checks. A request whose length two parties could read differently is how requests are smuggled past
// a proxy in front of the gateway, so the rules are strict and the connection closes after the refusal.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "core/result.h"

namespace mg::gateway {

// Why the request with these headers must be refused (400, or 501 for a transfer coding it does not
// implement), or nullopt when its framing is sound:
//  - RFC 9112 6.1/6.3: Transfer-Encoding must end in "chunked", and chunked is the only coding served;
//    it may not come with a Content-Length, nor in an HTTP/1.0 request;
//  - RFC 9112 3.2: an HTTP/1.1 request has exactly one Host, and any request at most one, with a valid value;
//  - one credential only (one Authorization, or one x-api-key): which of two a hop would use is anybody's guess.
std::optional<Error> request_framing_error(const boost::beast::http::fields& headers, unsigned http_version);

// Anthropic's clients send their key in x-api-key.
inline constexpr std::string_view kApiKeyHeader = "x-api-key";

// The client's key as an Authorization value: the Authorization header, or "Bearer " and the x-api-key
// header's value; '' for neither. A secret: never log it.
std::string client_credential(const boost::beast::http::fields& headers);

// The request target as a path and query: RFC 9112 3.2.2 has a server accept the absolute form
// ("http://host/path?query") too.
std::string_view origin_form(std::string_view target);

}  // namespace mg::gateway
