// IEEE half (fp16) and bfloat16 conversions. GGUF stores F16/BF16 tensors and every quant block's scales
// as these 16-bit patterns; the dequantizers widen them to float and the quantizers narrow floats back,
// rounding to nearest even as hardware conversions (F16C, AVX512-BF16) do.
#pragma once

#include <bit>
#include <cstdint>

namespace mg::engine {

namespace half_detail {

// value >> shift, rounded to nearest with ties to even (shift in 1..31).
constexpr std::uint32_t shift_right_round_even(std::uint32_t value, unsigned shift) {
  const std::uint32_t half_unit = 1u << (shift - 1);
  const std::uint32_t remainder = value & ((1u << shift) - 1);
  std::uint32_t result = value >> shift;
  if (remainder > half_unit || (remainder == half_unit && (result & 1u) != 0)) ++result;  // may carry on
  return result;
}

}  // namespace half_detail

// Half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
constexpr float fp16_to_fp32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) {
    // Infinity, or NaN made quiet (payload kept) as F16C's vcvtph2ps does, so SIMD and scalar agree bitwise.
    const std::uint32_t quiet_bit = mantissa != 0 ? 0x400000u : 0u;
    return std::bit_cast<float>(sign | 0x7f800000u | quiet_bit | (mantissa << 13));
  }
  // Rebias the exponent from 15 to 127 and widen the mantissa from 10 to 23 bits.
  return std::bit_cast<float>(sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13));
}

constexpr std::uint16_t fp32_to_fp16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {
    // NaN: keep the top payload bits and set the quiet bit so a payload of only low bits stays NaN.
    return static_cast<std::uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  // 65520 (0x477ff000) is halfway between 65504, the largest half, and the next power of two; the tie
  // goes to the even neighbour, which is infinity. Float infinity lands here too.
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {
    // Below 2^-14, the smallest normal half: the result is the subnormal round(|f| * 2^24). With the
    // implicit bit, |f| = significand * 2^(exponent - 150), so |f| * 2^24 = significand >> (126 - exponent).
    const std::uint32_t exponent = magnitude >> 23;
    const unsigned shift = 126u - exponent;
    if (shift > 24) return sign;  // below half the smallest subnormal (and float subnormals): zero
    const std::uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
    // A result of 0x400 is the smallest normal half, which this encoding gets right by itself.
    return static_cast<std::uint16_t>(sign | half_detail::shift_right_round_even(significand, shift));
  }
  // Normal: rebias the exponent (127 -> 15) in place and drop 13 mantissa bits; a carry out of the
  // mantissa correctly bumps the exponent.
  const std::uint32_t rebiased = magnitude - ((127u - 15u) << 23);
  return static_cast<std::uint16_t>(sign | half_detail::shift_right_round_even(rebiased, 13));
}

// bfloat16 is the top half of a float: 1 sign, 8 exponent, 7 mantissa bits.
constexpr float bf16_to_fp32(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

constexpr std::uint16_t fp32_to_bf16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  // NaN: truncating could clear every payload bit left and make infinity; set the quiet bit instead.
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  // Rounding carries into the exponent as it should, up to infinity for the largest floats.
  return static_cast<std::uint16_t>(half_detail::shift_right_round_even(bits, 16));
}

}  // namespace mg::engine
