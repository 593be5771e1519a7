// Scalar reference quantizers: simple per-block scales (the element of largest magnitude, or the block's
// min and max, sets the step) rather than llama.cpp's error-minimising search. Their output is only meant
// to approximate the input well enough to build test models in every format; the bits go exactly where
// ggml's decoders look for them (quant_blocks.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>

#include "local_engine/kernels/dequantize.h"
#include "local_engine/kernels/half.h"
#include "local_engine/kernels/quant_blocks.h"

namespace mg::engine {
namespace {

// Blocks are built zeroed (write_bits() only sets bits) and copied out, so the destination needs no
// particular alignment.
template <class Block>
void quantize_blocks(const float* in, std::byte* blocks, std::size_t n_blocks, std::size_t block_elements,
                     void (*encode)(const float*, Block&)) {
  for (std::size_t b = 0; b < n_blocks; ++b) {
    Block block{};
    encode(in + b * block_elements, block);
    std::memcpy(blocks + b * sizeof(Block), &block, sizeof(Block));
  }
}

void narrow_to_16_bit(const float* in, std::byte* values, std::size_t elements, std::uint16_t (*narrow)(float)) {
  for (std::size_t i = 0; i < elements; ++i) {
    const std::uint16_t bits = narrow(in[i]);
    std::memcpy(values + i * sizeof(bits), &bits, sizeof(bits));
  }
}

// The integer level nearest to x / step, clamped to [lowest, highest]; level 0 for a zero step (an
// all-zero block) and `lowest` for NaN, so no float-to-int conversion ever overflows.
int level_of(float x, float step, int lowest, int highest) {
  if (step == 0.0f) return 0;
  const float level = x / step;
  if (!(level > static_cast<float>(lowest))) return lowest;
  if (level >= static_cast<float>(highest)) return highest;
  return static_cast<int>(std::lround(level));
}

// The element of largest magnitude, sign kept; 0 for an all-zero block.
float largest_magnitude(std::span<const float> x) {
  float largest = 0.0f;
  for (float v : x) {
    if (std::fabs(v) > std::fabs(largest)) largest = v;
  }
  return largest;
}

// A symmetric step (fp16 bits) that maps the element of largest magnitude exactly to `lowest_level` (< 0).
// Mapping it to the negative end uses the one extra level of ranges like -8..7.
std::uint16_t symmetric_step(std::span<const float> x, int lowest_level) {
  return fp32_to_fp16(largest_magnitude(x) / static_cast<float>(lowest_level));
}

struct ValueRange {
  float lowest;
  float highest;
};

ValueRange value_range(std::span<const float> x) {
  const auto [lowest, highest] = std::minmax_element(x.begin(), x.end());
  return {*lowest, *highest};
}

// ---- 32-element blocks ----

void store_five_bit_32(std::uint8_t* qs, std::uint8_t* qh, std::size_t e, int q) {
  write_bits(qs, nibble_position_32(e), static_cast<unsigned>(q) & 0xfu);
  write_bits(qh, high_bit_position_32(e), static_cast<unsigned>(q) >> 4);
}

void encode_q4_0(const float* x, BlockQ4_0& block) {
  block.d = symmetric_step({x, QK_LEGACY}, -8);
  const float d = fp16_to_fp32(block.d);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) {
    write_bits(block.qs, nibble_position_32(e), static_cast<unsigned>(level_of(x[e], d, -8, 7) + 8));
  }
}

void encode_q5_0(const float* x, BlockQ5_0& block) {
  block.d = symmetric_step({x, QK_LEGACY}, -16);
  const float d = fp16_to_fp32(block.d);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) {
    store_five_bit_32(block.qs, block.qh, e, level_of(x[e], d, -16, 15) + 16);
  }
}

// Q4_1/Q5_1: the block's minimum is the offset and its range spans the levels 0..max_level.
template <class Block>
void set_affine_32(const float* x, int max_level, Block& block) {
  const ValueRange range = value_range({x, QK_LEGACY});
  block.d = fp32_to_fp16((range.highest - range.lowest) / static_cast<float>(max_level));
  block.m = fp32_to_fp16(range.lowest);
}

void encode_q4_1(const float* x, BlockQ4_1& block) {
  set_affine_32(x, 15, block);
  const float d = fp16_to_fp32(block.d);
  const float m = fp16_to_fp32(block.m);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) {
    write_bits(block.qs, nibble_position_32(e), static_cast<unsigned>(level_of(x[e] - m, d, 0, 15)));
  }
}

void encode_q5_1(const float* x, BlockQ5_1& block) {
  set_affine_32(x, 31, block);
  const float d = fp16_to_fp32(block.d);
  const float m = fp16_to_fp32(block.m);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) {
    store_five_bit_32(block.qs, block.qh, e, level_of(x[e] - m, d, 0, 31));
  }
}

// Q8_0 keeps to -127..127, as llama.cpp's files do, so kernels may negate any quant.
void encode_q8_0(const float* x, BlockQ8_0& block) {
  block.d = symmetric_step({x, QK_LEGACY}, -127);
  const float d = fp16_to_fp32(block.d);
  for (std::size_t e = 0; e < QK_LEGACY; ++e) block.qs[e] = static_cast<std::int8_t>(level_of(x[e], d, -127, 127));
}

// ---- 256-element K-quant super-blocks ----

constexpr std::size_t kMaxSubBlocks = QK_K / 16;

// Codes lowest..highest for the sub-blocks' steps or mins against one fp16 super-block scale, which is
// returned as given.
std::uint16_t code_sub_block_values(std::span<const float> values, std::uint16_t scale_bits, int lowest, int highest,
                                    std::span<int> codes) {
  const float scale = fp16_to_fp32(scale_bits);
  for (std::size_t s = 0; s < values.size(); ++s) codes[s] = level_of(values[s], scale, lowest, highest);
  return scale_bits;
}

// The fp16 scale that maps the largest of non-negative values to `max_code`.
std::uint16_t unsigned_scale(std::span<const float> values, int max_code) {
  return fp32_to_fp16(*std::max_element(values.begin(), values.end()) / static_cast<float>(max_code));
}

// Q2_K/Q4_K/Q5_K: x = d * scale_code * q - dmin * min_code per sub-block, q in 0..max_quant.
struct AffineSuperBlock {
  std::uint16_t d = 0;                           // fp16 scale of the scale codes
  std::uint16_t dmin = 0;                        // fp16 scale of the min codes
  std::array<int, kMaxSubBlocks> scale_codes{};  // [n_sub_blocks] 0..max_code
  std::array<int, kMaxSubBlocks> min_codes{};    // [n_sub_blocks] 0..max_code
  std::array<int, QK_K> quants{};                // [QK_K] 0..max_quant
};

AffineSuperBlock quantize_affine_super_block(const float* x, std::size_t sub_block_size, int max_code, int max_quant) {
  const std::size_t n_sub_blocks = QK_K / sub_block_size;
  std::array<float, kMaxSubBlocks> steps{};  // [n_sub_blocks] sub-block x ≈ step * q - min
  std::array<float, kMaxSubBlocks> mins{};   // [n_sub_blocks] >= 0: the format only subtracts
  for (std::size_t s = 0; s < n_sub_blocks; ++s) {
    const ValueRange range = value_range({x + s * sub_block_size, sub_block_size});
    const float lowest = std::min(range.lowest, 0.0f);
    steps[s] = (range.highest - lowest) / static_cast<float>(max_quant);
    mins[s] = -lowest;
  }
  AffineSuperBlock out;
  const std::span<const float> sub_steps{steps.data(), n_sub_blocks};
  const std::span<const float> sub_mins{mins.data(), n_sub_blocks};
  out.d = code_sub_block_values(sub_steps, unsigned_scale(sub_steps, max_code), 0, max_code, out.scale_codes);
  out.dmin = code_sub_block_values(sub_mins, unsigned_scale(sub_mins, max_code), 0, max_code, out.min_codes);
  // Quantize the elements against the steps and offsets the decoder will actually see.
  for (std::size_t s = 0; s < n_sub_blocks; ++s) {
    const float step = fp16_to_fp32(out.d) * static_cast<float>(out.scale_codes[s]);
    const float offset = fp16_to_fp32(out.dmin) * static_cast<float>(out.min_codes[s]);
    for (std::size_t e = s * sub_block_size; e < (s + 1) * sub_block_size; ++e) {
      out.quants[e] = level_of(x[e] + offset, step, 0, max_quant);
    }
  }
  return out;
}

// Q3_K/Q6_K: 16 sub-blocks of 16, x = d * scale_code * q with signed codes and quants.
struct SymmetricSuperBlock {
  std::uint16_t d = 0;                           // fp16 scale of the scale codes
  std::array<int, kMaxSubBlocks> scale_codes{};  // [16] lowest_code..highest_code
  std::array<int, QK_K> quants{};                // [QK_K] lowest_quant..highest_quant
};

SymmetricSuperBlock quantize_symmetric_super_block(const float* x, int lowest_code, int highest_code,
                                                   int lowest_quant, int highest_quant) {
  constexpr std::size_t sub_block_size = 16;
  std::array<float, kMaxSubBlocks> steps{};  // [16] signed: the largest element maps to lowest_quant
  for (std::size_t s = 0; s < kMaxSubBlocks; ++s) {
    steps[s] = largest_magnitude({x + s * sub_block_size, sub_block_size}) / static_cast<float>(lowest_quant);
  }
  SymmetricSuperBlock out;
  out.d = code_sub_block_values(steps, symmetric_step(steps, lowest_code), lowest_code, highest_code, out.scale_codes);
  for (std::size_t s = 0; s < kMaxSubBlocks; ++s) {
    const float step = fp16_to_fp32(out.d) * static_cast<float>(out.scale_codes[s]);
    for (std::size_t e = s * sub_block_size; e < (s + 1) * sub_block_size; ++e) {
      out.quants[e] = level_of(x[e], step, lowest_quant, highest_quant);
    }
  }
  return out;
}

void encode_q2_k(const float* x, BlockQ2_K& block) {
  const AffineSuperBlock q = quantize_affine_super_block(x, 16, 15, 3);
  block.d = q.d;
  block.dmin = q.dmin;
  for (std::size_t s = 0; s < QK_K / 16; ++s) {
    block.scales[s] = static_cast<std::uint8_t>(q.scale_codes[s] | (q.min_codes[s] << 4));
  }
  for (std::size_t e = 0; e < QK_K; ++e) write_bits(block.qs, crumb_position_k(e), static_cast<unsigned>(q.quants[e]));
}

void encode_q3_k(const float* x, BlockQ3_K& block) {
  const SymmetricSuperBlock q = quantize_symmetric_super_block(x, -32, 31, -4, 3);
  block.d = q.d;
  for (std::size_t s = 0; s < QK_K / 16; ++s) set_q3k_scale(block.scales, s, q.scale_codes[s]);
  for (std::size_t e = 0; e < QK_K; ++e) {
    const auto biased = static_cast<unsigned>(q.quants[e] + 4);  // 0..7
    write_bits(block.qs, crumb_position_k(e), biased & 3u);
    write_bits(block.hmask, high_bit_position_k(e), biased >> 2);
  }
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scale and min codes.
template <class Block>
AffineSuperBlock set_k4_scales(const float* x, int max_quant, Block& block) {
  const AffineSuperBlock q = quantize_affine_super_block(x, 32, 63, max_quant);
  block.d = q.d;
  block.dmin = q.dmin;
  for (std::size_t s = 0; s < QK_K / 32; ++s) {
    set_k4_scale_min(block.scales, s, {static_cast<unsigned>(q.scale_codes[s]), static_cast<unsigned>(q.min_codes[s])});
  }
  return q;
}

void encode_q4_k(const float* x, BlockQ4_K& block) {
  const AffineSuperBlock q = set_k4_scales(x, 15, block);
  for (std::size_t e = 0; e < QK_K; ++e) write_bits(block.qs, nibble_position_k(e), static_cast<unsigned>(q.quants[e]));
}

void encode_q5_k(const float* x, BlockQ5_K& block) {
  const AffineSuperBlock q = set_k4_scales(x, 31, block);
  for (std::size_t e = 0; e < QK_K; ++e) {
    const auto quant = static_cast<unsigned>(q.quants[e]);  // 0..31
    write_bits(block.qs, nibble_position_k(e), quant & 0xfu);
    write_bits(block.qh, high_bit_position_k(e), quant >> 4);
  }
}

void encode_q6_k(const float* x, BlockQ6_K& block) {
  const SymmetricSuperBlock q = quantize_symmetric_super_block(x, -128, 127, -32, 31);
  block.d = q.d;
  for (std::size_t s = 0; s < QK_K / 16; ++s) block.scales[s] = static_cast<std::int8_t>(q.scale_codes[s]);
  for (std::size_t e = 0; e < QK_K; ++e) {
    const auto biased = static_cast<unsigned>(q.quants[e] + 32);  // 0..63
    write_bits(block.ql, nibble_position_q6k(e), biased & 0xfu);
    write_bits(block.qh, crumb_position_k(e), biased >> 4);
  }
}

}  // namespace

void quantize_row(GgmlType type, const float* in, void* blocks, std::size_t elements) {
  const std::size_t n_blocks = detail::checked_block_count(type, elements, "quantize");
  if (n_blocks == 0) return;  // nothing to write, and the pointers may be null
  const std::size_t block_elements = traits_of(type).block_elements;
  auto* bytes = static_cast<std::byte*>(blocks);
  switch (type) {
    case GgmlType::f32: std::memcpy(bytes, in, elements * sizeof(float)); return;
    case GgmlType::f16: return narrow_to_16_bit(in, bytes, elements, fp32_to_fp16);
    case GgmlType::bf16: return narrow_to_16_bit(in, bytes, elements, fp32_to_bf16);
    case GgmlType::q4_0: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q4_0);
    case GgmlType::q4_1: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q4_1);
    case GgmlType::q5_0: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q5_0);
    case GgmlType::q5_1: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q5_1);
    case GgmlType::q8_0: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q8_0);
    case GgmlType::q2_k: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q2_k);
    case GgmlType::q3_k: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q3_k);
    case GgmlType::q4_k: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q4_k);
    case GgmlType::q5_k: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q5_k);
    case GgmlType::q6_k: return quantize_blocks(in, bytes, n_blocks, block_elements, encode_q6_k);
    default: throw std::logic_error("quantize: no encoder for a supported type");  // checked above
  }
}

}  // namespace mg::engine
