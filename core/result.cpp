#include "core/result.h"

namespace mg {

const char* to_string(FailureClass failure) {
  switch (failure) {
    case FailureClass::caller_fault: return "caller_fault";
    case FailureClass::not_found: return "not_found";
    case FailureClass::auth: return "auth";
    case FailureClass::rate_limit: return "rate_limit";
    case FailureClass::transient: return "transient";
    case FailureClass::timeout: return "timeout";
    case FailureClass::permanent: return "permanent";
    case FailureClass::cancelled: return "cancelled";
    case FailureClass::unsupported: return "unsupported";
  }
  return "unknown";
}

Error Error::invalid_request(std::string message, std::string param, std::string code) {
  return Error{400, FailureClass::caller_fault, "invalid_request_error", std::move(code), std::move(param),
               std::move(message), 0};
}

Error Error::not_found(std::string message, std::string code) {
  return Error{404, FailureClass::not_found, "invalid_request_error", std::move(code), {}, std::move(message), 0};
}

Error Error::unavailable(std::string message, int retry_after_s) {
  return Error{503, FailureClass::transient, "service_unavailable", "no_route_available", {}, std::move(message),
               retry_after_s};
}

Error Error::upstream(std::string message, FailureClass failure, int http_status) {
  return Error{http_status, failure, "upstream_error", "upstream_error", {}, std::move(message), 0};
}

Error Error::cancelled(std::string message) {
  return Error{499, FailureClass::cancelled, "cancelled", "client_closed_request", {}, std::move(message), 0};
}

}  // namespace mg
