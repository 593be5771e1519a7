#include "gateway/request_framing.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/core/string.hpp>

namespace mg::gateway {
namespace {

namespace http = boost::beast::http;

Error bad_request(std::string message) {
  return Error{400, FailureClass::caller_fault, "invalid_request_error", "malformed_http", {}, std::move(message), 0};
}

std::string_view trim_whitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Every coding of every Transfer-Encoding line, in order, empty list elements skipped (RFC 9110 5.6.1).
std::vector<std::string_view> transfer_codings(const http::fields& headers) {
  std::vector<std::string_view> codings;
  auto [begin, end] = headers.equal_range(http::field::transfer_encoding);
  for (auto line = begin; line != end; ++line) {
    std::string_view rest = line->value();
    while (!rest.empty()) {
      std::size_t comma = rest.find(',');
      std::string_view element = trim_whitespace(rest.substr(0, comma));
      if (!element.empty()) codings.push_back(element);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return codings;
}

std::optional<Error> transfer_encoding_error(const http::fields& headers, unsigned http_version) {
  if (headers.count(http::field::transfer_encoding) == 0) return std::nullopt;
  if (http_version < 11) return bad_request("Transfer-Encoding is not allowed in an HTTP/1.0 request");
  if (headers.count(http::field::content_length) > 0) {
    return bad_request("a request may not carry both Transfer-Encoding and Content-Length");
  }
  std::vector<std::string_view> codings = transfer_codings(headers);
  if (codings.empty() || !boost::beast::iequals(codings.back(), "chunked")) {
    return bad_request("Transfer-Encoding must end in 'chunked'; got '" + std::string(headers[http::field::transfer_encoding]) + "'");
  }
  codings.pop_back();
  if (codings.empty()) return std::nullopt;
  for (std::string_view coding : codings) {
    if (boost::beast::iequals(coding, "chunked")) return bad_request("Transfer-Encoding applies 'chunked' more than once");
  }
  // Well-framed, but the body would still be encoded: RFC 9112 6.1 answers a coding not understood with 501.
  return Error{501, FailureClass::caller_fault, "invalid_request_error", "unsupported_transfer_coding", {},
               "transfer coding '" + std::string(codings.front()) + "' is not supported; send the body with 'chunked' alone", 0};
}

bool is_digits(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// RFC 3986's host [":" port]: an IP-literal in brackets or a reg-name, and a port of digits (an empty
// value is allowed: RFC 9110 7.2).
bool is_valid_host(std::string_view value) {
  std::string_view host = value;
  std::string_view port;
  if (value.starts_with('[')) {
    std::size_t close = value.find(']');
    if (close == std::string_view::npos) return false;
    host = value.substr(1, close - 1);
    std::string_view rest = value.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else if (std::size_t colon = value.rfind(':'); colon != std::string_view::npos) {
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  if (!is_digits(port)) return false;
  std::string_view allowed = value.starts_with('[') ? ":." : "-._~!$&'()*+,;=%";  // an IP-literal, or a reg-name
  return std::all_of(host.begin(), host.end(),
                     [&](unsigned char c) { return std::isalnum(c) || allowed.find(static_cast<char>(c)) != std::string_view::npos; });
}

std::optional<Error> host_error(const http::fields& headers, unsigned http_version) {
  std::size_t hosts = headers.count(http::field::host);
  if (hosts == 0 && http_version >= 11) return bad_request("an HTTP/1.1 request must carry a Host header");
  if (hosts > 1) return bad_request("a request may carry only one Host header");
  if (hosts == 1 && !is_valid_host(headers[http::field::host])) return bad_request("the Host header is not a valid host");
  return std::nullopt;
}

}  // namespace

std::string_view origin_form(std::string_view target) {
  if (target.starts_with('/')) return target;  // the usual origin form
  std::size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return target;
  std::string_view scheme = target.substr(0, scheme_end);
  if (!boost::beast::iequals(scheme, "http") && !boost::beast::iequals(scheme, "https")) return target;
  std::size_t authority_end = target.find_first_of("/?#", scheme_end + 3);
  if (authority_end == std::string_view::npos || target[authority_end] != '/') return "/";  // no path: the root
  return target.substr(authority_end);
}

std::optional<Error> request_framing_error(const http::fields& headers, unsigned http_version) {
  if (auto error = transfer_encoding_error(headers, http_version)) return error;
  if (auto error = host_error(headers, http_version)) return error;
  if (headers.count(http::field::authorization) > 1) return bad_request("a request may carry only one Authorization header");
  if (headers.count(kApiKeyHeader) > 1) return bad_request("a request may carry only one x-api-key header");
  if (headers.count(http::field::authorization) && headers.count(kApiKeyHeader)) {
    return bad_request("a request may carry an Authorization header or an x-api-key header, not both");
  }
  return std::nullopt;
}

std::string client_credential(const http::fields& headers) {
  auto authorization = headers.find(http::field::authorization);
  if (authorization != headers.end()) return std::string(authorization->value());
  auto api_key = headers.find(kApiKeyHeader);
  if (api_key != headers.end()) return "Bearer " + std::string(api_key->value());
  return {};
}

}  // namespace mg::gateway
