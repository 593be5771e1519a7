// The error and result types of the request path: every failure carries what went wrong, how the router
// should treat it (FailureClass) and the HTTP status the client will see.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace mg {

// How a failure should steer the router: retry the same route, move to the next, or stop.
enum class FailureClass {
  caller_fault,  // the request itself is wrong: return it, never retry
  not_found,     // unknown model or endpoint
  auth,          // credentials rejected
  rate_limit,    // 429: retry later or elsewhere
  transient,     // 5xx, connection reset: retry or fall back
  timeout,       // deadline passed
  permanent,     // route cannot serve this request
  cancelled,     // the client went away
  unsupported,   // the route cannot express this request (its API, or the local engine, lacks a feature),
                 // found before anything was sent: fall back
};

const char* to_string(FailureClass failure);

// A failure that says nothing of the route's health: circuits and uptime leave it out (a client's own
// fault, its leaving, a rate limit, a request the route cannot take).
inline bool says_nothing_about_the_route(FailureClass failure) {
  return failure == FailureClass::rate_limit || failure == FailureClass::caller_fault || failure == FailureClass::cancelled ||
         failure == FailureClass::unsupported;
}

struct Error {
  int http_status = 500;
  FailureClass failure = FailureClass::permanent;
  std::string type = "server_error";  // OpenAI error.type
  std::string code;                   // OpenAI error.code, empty for null
  std::string param;                  // offending field path, empty for null
  std::string message;
  int retry_after_s = 0;  // > 0: sent as Retry-After

  static Error invalid_request(std::string message, std::string param = {}, std::string code = "invalid_value");
  static Error not_found(std::string message, std::string code);
  static Error unavailable(std::string message, int retry_after_s);
  static Error upstream(std::string message, FailureClass failure, int http_status = 502);
  static Error cancelled(std::string message);  // 499, as nginx logs a client that left
};

struct Ok {};

// A value or an Error; the request path returns these instead of throwing.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit on purpose, like std::expected
  Result(Error error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

using Status = Result<Ok>;

}  // namespace mg
