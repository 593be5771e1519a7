// Python's float() of a JSON number literal and repr() of the result, as json.loads and json.dumps use them.
#include "local_engine/chat/python_float.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>
#include <system_error>

namespace mg::engine {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Where from_chars reports a literal out of double's range, tells overflow (Python: inf) from underflow
// (Python: 0.0) by the decimal exponent of its first significant digit.
bool literal_overflows(std::string_view literal) {
  const std::size_t exponent_at = literal.find_first_of("eE");
  const std::string_view mantissa = literal.substr(0, exponent_at);
  long long exponent = 0;
  if (exponent_at != std::string_view::npos) {
    std::string_view digits = literal.substr(exponent_at + 1);
    const bool negative = !digits.empty() && digits.front() == '-';
    if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
    for (const char c : digits) exponent = std::min(exponent * 10 + (c - '0'), 1'000'000'000LL);  // saturate
    if (negative) exponent = -exponent;
  }
  const std::size_t point = mantissa.find('.');
  const std::size_t integer_digits =
      (point == std::string_view::npos ? mantissa.size() : point) - (mantissa.front() == '-' ? 1 : 0);
  long long digit_index = 0;  // among the mantissa's digits, '-' and '.' skipped
  for (const char c : mantissa) {
    if (!is_digit(c)) continue;
    if (c != '0') break;
    ++digit_index;
  }
  return exponent + static_cast<long long>(integer_digits) - 1 - digit_index > 0;
}

}  // namespace

double python_float_from_literal(std::string_view literal) {
  double value = 0;
  const auto [end, error] = std::from_chars(literal.data(), literal.data() + literal.size(), value);
  if (error == std::errc::result_out_of_range) {
    const bool negative = literal.front() == '-';
    if (literal_overflows(literal)) return negative ? -HUGE_VAL : HUGE_VAL;
    return negative ? -0.0 : 0.0;
  }
  if (error != std::errc{} || end != literal.data() + literal.size()) {
    throw std::invalid_argument("'" + std::string(literal) + "' is not a JSON number");
  }
  return value;
}

// CPython's float_repr_style "short": the shortest digits that read back to the same double (what
// to_chars gives), in positional form when the decimal exponent is in [-4, 16), else as d.ddde+XX.
std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";

  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string_view scientific(buffer, static_cast<std::size_t>(result.ptr - buffer));  // -d.ddde+XX
  const std::size_t e_at = scientific.find('e');
  const bool negative = scientific.front() == '-';
  std::string digits;
  for (const char c : scientific.substr(0, e_at)) {
    if (is_digit(c)) digits += c;
  }
  int exponent = 0;
  const std::string_view exponent_text = scientific.substr(e_at + 1);
  std::from_chars(exponent_text.data() + (exponent_text.front() == '+' ? 1 : 0),
                  exponent_text.data() + exponent_text.size(), exponent);

  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.front();
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int magnitude = exponent < 0 ? -exponent : exponent;
    out += exponent < 0 ? "e-" : "e+";
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
    return out;
  }
  const int point = exponent + 1;  // digits before the decimal point
  const int digit_count = static_cast<int>(digits.size());
  if (point <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
  } else if (point >= digit_count) {
    out += digits + std::string(static_cast<std::size_t>(point - digit_count), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<std::size_t>(point)) + "." + digits.substr(static_cast<std::size_t>(point));
  }
  return out;
}

}  // namespace mg::engine
