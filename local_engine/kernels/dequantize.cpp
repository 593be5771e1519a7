// Scalar reference dequantizers: one small decoder per block format, written element by element from the
// layout facts in quant_blocks.h, so each line reads as the format's formula. Speed is the SIMD kernels'
// job; these are what those kernels are checked against.
#include "local_engine/kernels/dequantize.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "local_engine/kernels/half.h"
#include "local_engine/kernels/quant_blocks.h"

namespace mg::engine {
namespace {

// Blocks are copied out of the byte stream rather than dereferenced in place: tensor data need not be
// aligned for the blocks' 16-bit fields, and a copy reads exactly one block's bytes.
template <class Block>
Block load_block(const std::byte* blocks, std::size_t index) {
  Block block;
  std::memcpy(&block, blocks + index * sizeof(Block), sizeof(Block));
  return block;
}

template <class Block>
void dequantize_blocks(const std::byte* blocks, float* out, std::size_t n_blocks, std::size_t block_elements,
                       void (*decode)(const Block&, float*)) {
  for (std::size_t b = 0; b < n_blocks; ++b) decode(load_block<Block>(blocks, b), out + b * block_elements);
}

void widen_16_bit(const std::byte* values, float* out, std::size_t elements, float (*widen)(std::uint16_t)) {
  for (std::size_t i = 0; i < elements; ++i) out[i] = widen(load_block<std::uint16_t>(values, i));
}

int nibble_32(const std::uint8_t* qs, std::size_t e) {
  return static_cast<int>(read_bits(qs, nibble_position_32(e), 4));
}

// Q5_0/Q5_1 quant: 4 low bits from the nibbles, the fifth from the 32-bit word qh.
int five_bit_32(const std::uint8_t* qs, const std::uint8_t* qh, std::size_t e) {
  return nibble_32(qs, e) | static_cast<int>(read_bits(qh, high_bit_position_32(e), 1) << 4);
}

void decode_q4_0(const BlockQ4_0& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) out[e] = d * static_cast<float>(nibble_32(block.qs, e) - 8);
}

void decode_q4_1(const BlockQ4_1& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  const float m = fp16_to_fp32(block.m);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) out[e] = d * static_cast<float>(nibble_32(block.qs, e)) + m;
}

void decode_q5_0(const BlockQ5_0& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) {
    out[e] = d * static_cast<float>(five_bit_32(block.qs, block.qh, e) - 16);
  }
}

void decode_q5_1(const BlockQ5_1& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  const float m = fp16_to_fp32(block.m);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) {
    out[e] = d * static_cast<float>(five_bit_32(block.qs, block.qh, e)) + m;
  }
}

void decode_q8_0(const BlockQ8_0& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) out[e] = d * static_cast<float>(block.qs[e]);
}

void decode_q2_k(const BlockQ2_K& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  const float dmin = fp16_to_fp32(block.dmin);
  for (std::size_t s = 0; s < QK_K / 16; ++s) {
    const float step = d * static_cast<float>(block.scales[s] & 0xf);
    const float offset = dmin * static_cast<float>(block.scales[s] >> 4);
    for (std::size_t e = 16 * s; e < 16 * s + 16; ++e) {
      out[e] = step * static_cast<float>(read_bits(block.qs, crumb_position_k(e), 2)) - offset;
    }
  }
}

void decode_q3_k(const BlockQ3_K& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  for (std::size_t s = 0; s < QK_K / 16; ++s) {
    const float step = d * static_cast<float>(q3k_scale(block.scales, s));
    for (std::size_t e = 16 * s; e < 16 * s + 16; ++e) {
      const unsigned q = read_bits(block.qs, crumb_position_k(e), 2) |
                         (read_bits(block.hmask, high_bit_position_k(e), 1) << 2);
      out[e] = step * static_cast<float>(static_cast<int>(q) - 4);
    }
  }
}

// Q4_K and Q5_K share their scales: 8 sub-blocks of 32, x = d * scale * q - dmin * min.
template <class QuantOf>
void decode_k4_sub_blocks(std::uint16_t d_bits, std::uint16_t dmin_bits, const std::uint8_t* scales,
                          QuantOf quant_of, float* out) {
  const float d = fp16_to_fp32(d_bits);
  const float dmin = fp16_to_fp32(dmin_bits);
  for (std::size_t s = 0; s < QK_K / 32; ++s) {
    const ScaleMin codes = k4_scale_min(scales, s);
    const float step = d * static_cast<float>(codes.scale);
    const float offset = dmin * static_cast<float>(codes.min);
    for (std::size_t e = 32 * s; e < 32 * s + 32; ++e) out[e] = step * static_cast<float>(quant_of(e)) - offset;
  }
}

void decode_q4_k(const BlockQ4_K& block, float* out) {
  decode_k4_sub_blocks(block.d, block.dmin, block.scales,
                       [&](std::size_t e) { return read_bits(block.qs, nibble_position_k(e), 4); }, out);
}

void decode_q5_k(const BlockQ5_K& block, float* out) {
  decode_k4_sub_blocks(block.d, block.dmin, block.scales, [&](std::size_t e) {
    return read_bits(block.qs, nibble_position_k(e), 4) | (read_bits(block.qh, high_bit_position_k(e), 1) << 4);
  }, out);
}

void decode_q6_k(const BlockQ6_K& block, float* out) {
  const float d = fp16_to_fp32(block.d);
  for (std::size_t s = 0; s < QK_K / 16; ++s) {
    const float step = d * static_cast<float>(block.scales[s]);
    for (std::size_t e = 16 * s; e < 16 * s + 16; ++e) {
      const unsigned q = read_bits(block.ql, nibble_position_q6k(e), 4) |
                         (read_bits(block.qh, crumb_position_k(e), 2) << 4);
      out[e] = step * static_cast<float>(static_cast<int>(q) - 32);
    }
  }
}

}  // namespace

bool row_conversion_supported(GgmlType type) {
  switch (type) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16:
    case GgmlType::q4_0: case GgmlType::q4_1: case GgmlType::q5_0: case GgmlType::q5_1: case GgmlType::q8_0:
    case GgmlType::q2_k: case GgmlType::q3_k: case GgmlType::q4_k: case GgmlType::q5_k: case GgmlType::q6_k:
      return true;
    default:
      return false;
  }
}

namespace detail {

std::size_t checked_block_count(GgmlType type, std::size_t elements, const char* operation) {
  const GgmlTypeTraits& traits = traits_of(type);
  if (!row_conversion_supported(type)) {
    throw std::invalid_argument(std::string(operation) + ": type " + std::string(traits.name) + " is not supported");
  }
  if (elements % traits.block_elements != 0) {
    throw std::invalid_argument(std::string(operation) + ": " + std::string(traits.name) + " needs a multiple of " +
                                std::to_string(traits.block_elements) + " elements; got " + std::to_string(elements));
  }
  return elements / traits.block_elements;
}

}  // namespace detail

void dequantize_row(GgmlType type, const void* blocks, float* out, std::size_t elements) {
  const std::size_t n_blocks = detail::checked_block_count(type, elements, "dequantize");
  if (n_blocks == 0) return;  // nothing to read, and the pointers may be null
  const std::size_t block_elements = traits_of(type).block_elements;
  const auto* bytes = static_cast<const std::byte*>(blocks);
  switch (type) {
    case GgmlType::f32: std::memcpy(out, bytes, elements * sizeof(float)); return;
    case GgmlType::f16: return widen_16_bit(bytes, out, elements, fp16_to_fp32);
    case GgmlType::bf16: return widen_16_bit(bytes, out, elements, bf16_to_fp32);
    case GgmlType::q4_0: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q4_0);
    case GgmlType::q4_1: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q4_1);
    case GgmlType::q5_0: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q5_0);
    case GgmlType::q5_1: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q5_1);
    case GgmlType::q8_0: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q8_0);
    case GgmlType::q2_k: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q2_k);
    case GgmlType::q3_k: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q3_k);
    case GgmlType::q4_k: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q4_k);
    case GgmlType::q5_k: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q5_k);
    case GgmlType::q6_k: return dequantize_blocks(bytes, out, n_blocks, block_elements, decode_q6_k);
    default: throw std::logic_error("dequantize: no decoder for a supported type");  // checked above
  }
}

}  // namespace mg::engine
