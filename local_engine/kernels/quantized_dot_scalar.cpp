// The scalar reference kernels: every weight format's dot product with its activation format, written
// element by element from the layout facts in quant_blocks.h, with each block's sum of products in exact
// integer arithmetic and the block scales applied in float, as llama.cpp's vec_dot functions do. Also the
// reference activation quantizers. The SIMD tables are tested against this file, and CPUs without AVX2
// run it.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "local_engine/kernels/half.h"
#include "local_engine/kernels/quant_blocks.h"
#include "local_engine/kernels/quantized_dot.h"

namespace mg::engine {
namespace {

// Blocks are copied out of the byte stream: rows and activation buffers need no alignment.
template <class Block>
Block load_block(const void* blocks, std::size_t index) {
  Block block;
  std::memcpy(&block, static_cast<const std::byte*>(blocks) + index * sizeof(Block), sizeof(Block));
  return block;
}

template <class Block>
void store_block(void* blocks, std::size_t index, const Block& block) {
  std::memcpy(static_cast<std::byte*>(blocks) + index * sizeof(Block), &block, sizeof(Block));
}

// ---- Activation quantization ----

// Rounds to the nearest integer, ties to even, after clamping to [-127, 127] (NaN becomes -127): the
// same steps in the same order as the SIMD quantizers' max, min and convert, so all tables write the
// same bytes. Adding 1.5 * 2^23 leaves a float no fraction bits, so the addition itself rounds.
std::int8_t round_to_int8(float v) {
  v = v > -127.0f ? v : -127.0f;
  v = v < 127.0f ? v : 127.0f;
  constexpr float kNoFractionBits = 0x1.8p23f;
  return static_cast<std::int8_t>((v + kNoFractionBits) - kNoFractionBits);
}

// Symmetric int8 quantization of a group: d = max|x| / 127, q = round(x / d). Returns d (0 for an
// all-zero group, whose quants are then 0).
float quantize_int8_group(const float* x, std::size_t count, std::int8_t* q) {
  float amax = 0.0f;
  for (std::size_t i = 0; i < count; ++i) {
    const float magnitude = std::fabs(x[i]);
    amax = magnitude > amax ? magnitude : amax;
  }
  const float d = amax / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (std::size_t i = 0; i < count; ++i) q[i] = round_to_int8(x[i] * inverse);
  return d;
}

// The sum of `count` activation quants: Q8_1's s, Q8_K's bsums, and the kernels' offset corrections.
int sum_of(const std::int8_t* q, std::size_t count) {
  int sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += q[i];
  return sum;
}

void quantize_q8_0(const float* x, void* out, std::size_t n) {
  for (std::size_t b = 0; b < n / QK_LEGACY; ++b) {
    BlockQ8_0 block;
    block.d = fp32_to_fp16(quantize_int8_group(x + b * QK_LEGACY, QK_LEGACY, block.qs));
    store_block(out, b, block);
  }
}

void quantize_q8_1(const float* x, void* out, std::size_t n) {
  for (std::size_t b = 0; b < n / QK_LEGACY; ++b) {
    BlockQ8_1 block;
    const float d = quantize_int8_group(x + b * QK_LEGACY, QK_LEGACY, block.qs);
    block.d = fp32_to_fp16(d);
    block.s = fp32_to_fp16(d * static_cast<float>(sum_of(block.qs, QK_LEGACY)));
    store_block(out, b, block);
  }
}

void quantize_q8_k(const float* x, void* out, std::size_t n) {
  for (std::size_t b = 0; b < n / QK_K; ++b) {
    BlockQ8_K block;
    block.d = quantize_int8_group(x + b * QK_K, QK_K, block.qs);
    for (std::size_t s = 0; s < QK_K / 16; ++s) {
      block.bsums[s] = static_cast<std::int16_t>(sum_of(block.qs + 16 * s, 16));
    }
    store_block(out, b, block);
  }
}

// ---- Weight quants as integers, in element order, with the format's offset applied ----

template <std::size_t N>
using Quants = std::array<int, N>;

int nibble_32(const std::uint8_t* qs, std::size_t e) {
  return static_cast<int>(read_bits(qs, nibble_position_32(e), 4));
}
int fifth_bit_32(const std::uint8_t* qh, std::size_t e) {
  return static_cast<int>(read_bits(qh, high_bit_position_32(e), 1));
}

Quants<32> quants_of(const BlockQ4_0& block) {
  Quants<32> q;
  for (std::size_t e = 0; e < 32; ++e) q[e] = nibble_32(block.qs, e) - 8;
  return q;
}
Quants<32> quants_of(const BlockQ4_1& block) {
  Quants<32> q;
  for (std::size_t e = 0; e < 32; ++e) q[e] = nibble_32(block.qs, e);
  return q;
}
Quants<32> quants_of(const BlockQ5_0& block) {
  Quants<32> q;
  for (std::size_t e = 0; e < 32; ++e) q[e] = (nibble_32(block.qs, e) | (fifth_bit_32(block.qh, e) << 4)) - 16;
  return q;
}
Quants<32> quants_of(const BlockQ5_1& block) {
  Quants<32> q;
  for (std::size_t e = 0; e < 32; ++e) q[e] = nibble_32(block.qs, e) | (fifth_bit_32(block.qh, e) << 4);
  return q;
}
Quants<32> quants_of(const BlockQ8_0& block) {
  Quants<32> q;
  for (std::size_t e = 0; e < 32; ++e) q[e] = block.qs[e];
  return q;
}

int crumb_k(const std::uint8_t* bits, std::size_t e) {
  return static_cast<int>(read_bits(bits, crumb_position_k(e), 2));
}
int high_bit_k(const std::uint8_t* bits, std::size_t e) {
  return static_cast<int>(read_bits(bits, high_bit_position_k(e), 1));
}
int nibble_k(const std::uint8_t* qs, std::size_t e) { return static_cast<int>(read_bits(qs, nibble_position_k(e), 4)); }

Quants<QK_K> quants_of(const BlockQ2_K& block) {
  Quants<QK_K> q;
  for (std::size_t e = 0; e < QK_K; ++e) q[e] = crumb_k(block.qs, e);
  return q;
}
Quants<QK_K> quants_of(const BlockQ3_K& block) {
  Quants<QK_K> q;
  for (std::size_t e = 0; e < QK_K; ++e) q[e] = (crumb_k(block.qs, e) | (high_bit_k(block.hmask, e) << 2)) - 4;
  return q;
}
Quants<QK_K> quants_of(const BlockQ4_K& block) {
  Quants<QK_K> q;
  for (std::size_t e = 0; e < QK_K; ++e) q[e] = nibble_k(block.qs, e);
  return q;
}
Quants<QK_K> quants_of(const BlockQ5_K& block) {
  Quants<QK_K> q;
  for (std::size_t e = 0; e < QK_K; ++e) q[e] = nibble_k(block.qs, e) | (high_bit_k(block.qh, e) << 4);
  return q;
}
Quants<QK_K> quants_of(const BlockQ6_K& block) {
  Quants<QK_K> q;
  for (std::size_t e = 0; e < QK_K; ++e) {
    q[e] = (static_cast<int>(read_bits(block.ql, nibble_position_q6k(e), 4)) | (crumb_k(block.qh, e) << 4)) - 32;
  }
  return q;
}

// sum(w[e] * y[e]) over e in [first, first + count).
template <std::size_t N>
int sum_of_products(const Quants<N>& w, const std::int8_t* y, std::size_t first, std::size_t count) {
  int sum = 0;
  for (std::size_t e = first; e < first + count; ++e) sum += w[e] * y[e];
  return sum;
}

// ---- One block's dot product ----

float block_dot(const BlockQ4_0& w, const BlockQ8_0& y) {
  return static_cast<float>(sum_of_products(quants_of(w), y.qs, 0, 32)) * (fp16_to_fp32(w.d) * fp16_to_fp32(y.d));
}
float block_dot(const BlockQ5_0& w, const BlockQ8_0& y) {
  return static_cast<float>(sum_of_products(quants_of(w), y.qs, 0, 32)) * (fp16_to_fp32(w.d) * fp16_to_fp32(y.d));
}
float block_dot(const BlockQ8_0& w, const BlockQ8_0& y) {
  return static_cast<float>(sum_of_products(quants_of(w), y.qs, 0, 32)) * (fp16_to_fp32(w.d) * fp16_to_fp32(y.d));
}
// x = d * q + m: sum(x * y) = d * dy * sum(q * qy) + m * (dy * sum(qy)), the last factor being Q8_1's s.
float block_dot(const BlockQ4_1& w, const BlockQ8_1& y) {
  return static_cast<float>(sum_of_products(quants_of(w), y.qs, 0, 32)) * (fp16_to_fp32(w.d) * fp16_to_fp32(y.d)) +
         fp16_to_fp32(w.m) * fp16_to_fp32(y.s);
}
float block_dot(const BlockQ5_1& w, const BlockQ8_1& y) {
  return static_cast<float>(sum_of_products(quants_of(w), y.qs, 0, 32)) * (fp16_to_fp32(w.d) * fp16_to_fp32(y.d)) +
         fp16_to_fp32(w.m) * fp16_to_fp32(y.s);
}

// Formats with a min per sub-block (x = d * scale * q - dmin * min): the scaled products and the mins
// times the activations' sub-block sums, both exact integers, then the two float scales.
float scaled_with_mins(float d, float dmin, const BlockQ8_K& y, int scaled_products, int scaled_sums) {
  return y.d * (d * static_cast<float>(scaled_products) - dmin * static_cast<float>(scaled_sums));
}

float block_dot(const BlockQ2_K& w, const BlockQ8_K& y) {
  const Quants<QK_K> q = quants_of(w);
  int scaled_products = 0;
  int scaled_sums = 0;
  for (std::size_t s = 0; s < QK_K / 16; ++s) {
    scaled_products += (w.scales[s] & 0xf) * sum_of_products(q, y.qs, 16 * s, 16);
    scaled_sums += (w.scales[s] >> 4) * sum_of(y.qs + 16 * s, 16);
  }
  return scaled_with_mins(fp16_to_fp32(w.d), fp16_to_fp32(w.dmin), y, scaled_products, scaled_sums);
}

float block_dot(const BlockQ3_K& w, const BlockQ8_K& y) {
  const Quants<QK_K> q = quants_of(w);
  int scaled_products = 0;
  for (std::size_t s = 0; s < QK_K / 16; ++s) {
    scaled_products += q3k_scale(w.scales, s) * sum_of_products(q, y.qs, 16 * s, 16);
  }
  return y.d * fp16_to_fp32(w.d) * static_cast<float>(scaled_products);
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
template <class Block>
float k4_block_dot(const Block& w, const BlockQ8_K& y) {
  const Quants<QK_K> q = quants_of(w);
  int scaled_products = 0;
  int scaled_sums = 0;
  for (std::size_t s = 0; s < QK_K / 32; ++s) {
    const ScaleMin codes = k4_scale_min(w.scales, s);
    scaled_products += static_cast<int>(codes.scale) * sum_of_products(q, y.qs, 32 * s, 32);
    scaled_sums += static_cast<int>(codes.min) * sum_of(y.qs + 32 * s, 32);
  }
  return scaled_with_mins(fp16_to_fp32(w.d), fp16_to_fp32(w.dmin), y, scaled_products, scaled_sums);
}
float block_dot(const BlockQ4_K& w, const BlockQ8_K& y) { return k4_block_dot(w, y); }
float block_dot(const BlockQ5_K& w, const BlockQ8_K& y) { return k4_block_dot(w, y); }

float block_dot(const BlockQ6_K& w, const BlockQ8_K& y) {
  const Quants<QK_K> q = quants_of(w);
  int scaled_products = 0;
  for (std::size_t s = 0; s < QK_K / 16; ++s) scaled_products += w.scales[s] * sum_of_products(q, y.qs, 16 * s, 16);
  return y.d * fp16_to_fp32(w.d) * static_cast<float>(scaled_products);
}

// ---- Rows ----

// The sum of the blocks' dot products, in block order.
template <class WeightBlock, class ActivationBlock, std::size_t kBlockElements>
float quantized_row_dot(const void* weights, const void* activations, std::size_t n) {
  float sum = 0.0f;
  for (std::size_t b = 0; b < n / kBlockElements; ++b) {
    sum += block_dot(load_block<WeightBlock>(weights, b), load_block<ActivationBlock>(activations, b));
  }
  return sum;
}

float f32_at(const void* values, std::size_t i) { return load_block<float>(values, i); }
float f16_at(const void* values, std::size_t i) { return fp16_to_fp32(load_block<std::uint16_t>(values, i)); }
float bf16_at(const void* values, std::size_t i) { return bf16_to_fp32(load_block<std::uint16_t>(values, i)); }

// Float weights: accumulated in double, so the reference is as exact as a float result can be.
template <float (*WeightAt)(const void*, std::size_t)>
float float_row_dot(const void* weights, const void* activations, std::size_t n) {
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += static_cast<double>(WeightAt(weights, i)) * static_cast<double>(f32_at(activations, i));
  }
  return static_cast<float>(sum);
}

template <float (*RowDot)(const void*, const void*, std::size_t)>
void dot_columns(const void* weight_row, const void* const* columns, std::size_t n_cols, float* out, std::size_t n) {
  for (std::size_t c = 0; c < n_cols; ++c) out[c] = RowDot(weight_row, columns[c], n);
}

constexpr KernelTable kScalarTable{
    .isa = KernelIsa::scalar,
    .dot_f32 = dot_columns<float_row_dot<f32_at>>,
    .dot_f16 = dot_columns<float_row_dot<f16_at>>,
    .dot_bf16 = dot_columns<float_row_dot<bf16_at>>,
    .dot_q4_0 = dot_columns<quantized_row_dot<BlockQ4_0, BlockQ8_0, QK_LEGACY>>,
    .dot_q4_1 = dot_columns<quantized_row_dot<BlockQ4_1, BlockQ8_1, QK_LEGACY>>,
    .dot_q5_0 = dot_columns<quantized_row_dot<BlockQ5_0, BlockQ8_0, QK_LEGACY>>,
    .dot_q5_1 = dot_columns<quantized_row_dot<BlockQ5_1, BlockQ8_1, QK_LEGACY>>,
    .dot_q8_0 = dot_columns<quantized_row_dot<BlockQ8_0, BlockQ8_0, QK_LEGACY>>,
    .dot_q2_k = dot_columns<quantized_row_dot<BlockQ2_K, BlockQ8_K, QK_K>>,
    .dot_q3_k = dot_columns<quantized_row_dot<BlockQ3_K, BlockQ8_K, QK_K>>,
    .dot_q4_k = dot_columns<quantized_row_dot<BlockQ4_K, BlockQ8_K, QK_K>>,
    .dot_q5_k = dot_columns<quantized_row_dot<BlockQ5_K, BlockQ8_K, QK_K>>,
    .dot_q6_k = dot_columns<quantized_row_dot<BlockQ6_K, BlockQ8_K, QK_K>>,
    .quantize_q8_0 = quantize_q8_0,
    .quantize_q8_1 = quantize_q8_1,
    .quantize_q8_k = quantize_q8_k,
    .own_dot_kernels = 0,  // set by kernel_table(), which counts every scalar kernel as the table's own
};

}  // namespace

const KernelTable& detail::scalar_kernel_table() { return kScalarTable; }

}  // namespace mg::engine
