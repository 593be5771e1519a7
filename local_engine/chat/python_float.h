// Floats as Python's json module reads and writes them: float() of the literal, then repr(). Python
// rounds a literal past double's range to inf or to a signed zero instead of failing, and repr() writes
// the shortest digits that read back to the same double, positional for decimal exponents in [-4, 16)
// ("100000.0", "0.0001") and scientific outside it ("1e+16", "1e-05").
#pragma once

#include <string>
#include <string_view>

namespace mg::engine {

// float(literal) for a JSON number literal (-?digits, optional fraction and exponent). Throws
// std::invalid_argument for anything else.
double python_float_from_literal(std::string_view literal);

// repr(value) as json.dumps writes it: NaN, Infinity and -Infinity for the non-finite.
std::string python_float_repr(double value);

}  // namespace mg::engine
