// The quantized block formats of GGUF tensors, byte for byte as ggml lays them out, and where each
// element's bits and each sub-block's scale live inside a block. The dequantizers and quantizers (and later
// the SIMD kernels) read and write blocks through these, so the layout facts are written down once.
//
// All multi-byte fields are little-endian, as in every GGUF file. "fp16" fields hold IEEE half bits
// (see half.h). Element indices below run over the block's elements in tensor order.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mg::engine {

inline constexpr std::size_t QK_K = 256;         // elements per K-quant super-block
inline constexpr std::size_t K_SCALE_SIZE = 12;  // bytes of Q4_K/Q5_K's packed 6-bit scales and mins
inline constexpr std::size_t QK_LEGACY = 32;     // elements per Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 block

// ---- 32-element blocks: x = d * q (symmetric) or x = d * q + m (with a min) ----

struct BlockQ4_0 {
  std::uint16_t d;       // fp16 scale; x = d * (q - 8), q in 0..15
  std::uint8_t qs[16];   // [16] nibbles: byte i holds element i (low) and element i + 16 (high)
};
static_assert(sizeof(BlockQ4_0) == 2 + 16);

struct BlockQ4_1 {
  std::uint16_t d;       // fp16 scale
  std::uint16_t m;       // fp16 min; x = d * q + m, q in 0..15
  std::uint8_t qs[16];   // [16] nibbles, as Q4_0
};
static_assert(sizeof(BlockQ4_1) == 2 + 2 + 16);

struct BlockQ5_0 {
  std::uint16_t d;       // fp16 scale; x = d * (q - 16), q in 0..31
  std::uint8_t qh[4];    // [32 bits] fifth bit of element e at bit e of this little-endian word
  std::uint8_t qs[16];   // [16] low 4 bits, as Q4_0's nibbles
};
static_assert(sizeof(BlockQ5_0) == 2 + 4 + 16);

struct BlockQ5_1 {
  std::uint16_t d;       // fp16 scale
  std::uint16_t m;       // fp16 min; x = d * q + m, q in 0..31
  std::uint8_t qh[4];    // [32 bits] fifth bits, as Q5_0
  std::uint8_t qs[16];   // [16] low 4 bits, as Q4_0
};
static_assert(sizeof(BlockQ5_1) == 2 + 2 + 4 + 16);

struct BlockQ8_0 {
  std::uint16_t d;       // fp16 scale; x = d * q
  std::int8_t qs[32];    // [32] one signed quant per element
};
static_assert(sizeof(BlockQ8_0) == 2 + 32);

// ---- 256-element K-quant super-blocks: sub-blocks of 16 or 32 elements with quantized scales ----

// 16 sub-blocks of 16: x = d * scale[s] * q - dmin * min[s], q in 0..3, s = e / 16.
struct BlockQ2_K {
  std::uint8_t scales[QK_K / 16];  // [16] sub-block s: low nibble its scale, high nibble its min
  std::uint8_t qs[QK_K / 4];       // [64] 2-bit quants, at crumb_position_k(e)
  std::uint16_t d;                 // fp16 super-block scale of the scales
  std::uint16_t dmin;              // fp16 super-block scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 16 + 64 + 2 + 2);

// 16 sub-blocks of 16: x = d * (scale[s] - 32) * (q - 4), q in 0..7 (2 low bits and a high bit).
struct BlockQ3_K {
  std::uint8_t hmask[QK_K / 8];  // [32] high bits, at high_bit_position_k(e)
  std::uint8_t qs[QK_K / 4];     // [64] low 2 bits, at crumb_position_k(e)
  std::uint8_t scales[12];       // [16 x 6 bits] scales, packed as q3k_scale() reads them
  std::uint16_t d;               // fp16 super-block scale
};
static_assert(sizeof(BlockQ3_K) == 32 + 64 + 12 + 2);

// 8 sub-blocks of 32: x = d * scale[s] * q - dmin * min[s], q in 0..15, s = e / 32.
struct BlockQ4_K {
  std::uint16_t d;                     // fp16 super-block scale of the scales
  std::uint16_t dmin;                  // fp16 super-block scale of the mins
  std::uint8_t scales[K_SCALE_SIZE];   // [8 scales + 8 mins, 6 bits each], see k4_scale_min()
  std::uint8_t qs[QK_K / 2];           // [128] nibbles, at nibble_position_k(e)
};
static_assert(sizeof(BlockQ4_K) == 2 + 2 + 12 + 128);

// 8 sub-blocks of 32: as Q4_K with a fifth bit, q in 0..31.
struct BlockQ5_K {
  std::uint16_t d;                     // fp16 super-block scale of the scales
  std::uint16_t dmin;                  // fp16 super-block scale of the mins
  std::uint8_t scales[K_SCALE_SIZE];   // [8 scales + 8 mins, 6 bits each], as Q4_K
  std::uint8_t qh[QK_K / 8];           // [32] fifth bits, at high_bit_position_k(e)
  std::uint8_t qs[QK_K / 2];           // [128] low 4 bits, at nibble_position_k(e)
};
static_assert(sizeof(BlockQ5_K) == 2 + 2 + 12 + 32 + 128);

// 16 sub-blocks of 16: x = d * scale[s] * (q - 32), q in 0..63 (4 low bits and 2 high bits).
struct BlockQ6_K {
  std::uint8_t ql[QK_K / 2];       // [128] low 4 bits, at nibble_position_q6k(e)
  std::uint8_t qh[QK_K / 4];       // [64] high 2 bits, at crumb_position_k(e)
  std::int8_t scales[QK_K / 16];   // [16] signed 8-bit sub-block scales
  std::uint16_t d;                 // fp16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 128 + 64 + 16 + 2);

// ---- Activation blocks: what the dot-product kernels quantize activations to (quantized_dot.h) ----

// Q8_0 (above) for Q4_0, Q5_0 and Q8_0 weights; Q8_1 for the formats with a min, whose dot product needs
// the block's sum; Q8_K for the K-quants, whose sub-block sums serve their mins and offsets.

struct BlockQ8_1 {
  std::uint16_t d;       // fp16 scale; x = d * q
  std::uint16_t s;       // fp16 d * (sum of qs), computed in float before rounding to fp16
  std::int8_t qs[32];    // [32] one signed quant per element
};
static_assert(sizeof(BlockQ8_1) == 2 + 2 + 32);

struct BlockQ8_K {
  float d;                            // float scale; x = d * q
  std::int8_t qs[QK_K];               // [256] one signed quant per element
  std::int16_t bsums[QK_K / 16];      // [16] sum of each 16 consecutive qs
};
static_assert(sizeof(BlockQ8_K) == 4 + 256 + 32);

// ---- Where an element's bits live ----

// A bit field inside a block's byte array: `width` bits of bytes[byte] starting at bit `shift`.
struct BitField {
  std::size_t byte;
  unsigned shift;
};

constexpr unsigned read_bits(const std::uint8_t* bytes, BitField at, unsigned width) {
  return (bytes[at.byte] >> at.shift) & ((1u << width) - 1u);
}

// The field must be clear before (blocks are zeroed first); value must fit in `width` bits.
constexpr void write_bits(std::uint8_t* bytes, BitField at, unsigned value) {
  bytes[at.byte] = static_cast<std::uint8_t>(bytes[at.byte] | (value << at.shift));
}

// 32-element blocks: byte e % 16, low nibble for the first 16 elements, high nibble for the last 16.
constexpr BitField nibble_position_32(std::size_t e) { return {e % 16, static_cast<unsigned>(4 * (e / 16))}; }

// Q5_0/Q5_1 fifth bits: bit e of a little-endian 32-bit word.
constexpr BitField high_bit_position_32(std::size_t e) { return {e / 8, static_cast<unsigned>(e % 8)}; }

// K-quant 2-bit fields (Q2_K's and Q3_K's qs, Q6_K's qh): each 128-element half of the super-block owns 32
// bytes; element e's byte is e % 32 within its half and its bit pair is (e / 32) % 4, so a byte holds
// elements l, l + 32, l + 64 and l + 96 of its half from the lowest bits up.
constexpr BitField crumb_position_k(std::size_t e) {
  return {32 * (e / 128) + e % 32, static_cast<unsigned>(2 * ((e / 32) % 4))};
}

// K-quant single high bits (Q3_K's hmask, Q5_K's qh): byte e % 32, bit e / 32.
constexpr BitField high_bit_position_k(std::size_t e) { return {e % 32, static_cast<unsigned>(e / 32)}; }

// Q4_K/Q5_K nibbles: each 64-element group owns 32 bytes; its first 32 elements take the low nibbles and
// the next 32 the high nibbles.
constexpr BitField nibble_position_k(std::size_t e) {
  return {32 * (e / 64) + e % 32, static_cast<unsigned>(4 * ((e / 32) % 2))};
}

// Q6_K low nibbles: each 128-element half owns 64 bytes; its elements 0-31 and 32-63 take the low nibbles
// of bytes 0-31 and 32-63, its elements 64-95 and 96-127 the high nibbles of the same bytes.
constexpr BitField nibble_position_q6k(std::size_t e) {
  return {64 * (e / 128) + 32 * ((e / 32) % 2) + e % 32, static_cast<unsigned>(4 * ((e / 64) % 2))};
}

// ---- Where a sub-block's scale lives ----

// Q3_K: 16 six-bit scales, stored biased by 32. Low 4 bits: byte s (s < 8, low nibble) or byte s - 8 (high
// nibble); high 2 bits: byte 8 + s % 4, bits 2 * (s / 4).
constexpr BitField q3k_scale_low_position(std::size_t s) {
  return {s % 8, static_cast<unsigned>(4 * (s / 8))};
}
constexpr BitField q3k_scale_high_position(std::size_t s) {
  return {8 + s % 4, static_cast<unsigned>(2 * (s / 4))};
}
constexpr int q3k_scale(const std::uint8_t* scales, std::size_t s) {
  const unsigned biased = read_bits(scales, q3k_scale_low_position(s), 4) |
                          (read_bits(scales, q3k_scale_high_position(s), 2) << 4);
  return static_cast<int>(biased) - 32;
}
// scale in -32..31; the 12 bytes must be zeroed first.
constexpr void set_q3k_scale(std::uint8_t* scales, std::size_t s, int scale) {
  const auto biased = static_cast<unsigned>(scale + 32);
  write_bits(scales, q3k_scale_low_position(s), biased & 0xfu);
  write_bits(scales, q3k_scale_high_position(s), biased >> 4);
}

// Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins in 12 bytes. Sub-blocks 0-3 keep theirs whole in the
// low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 keep their low 4 bits in the nibbles of
// bytes 8-11 (scale low, min high) and their top 2 bits in the spare top bits of bytes 0-3 (scale) and
// 4-7 (min).
struct ScaleMin {
  unsigned scale;  // 0..63
  unsigned min;    // 0..63
};
constexpr ScaleMin k4_scale_min(const std::uint8_t* scales, std::size_t s) {
  if (s < 4) return {scales[s] & 63u, scales[s + 4] & 63u};
  const unsigned low_nibbles = scales[s + 4];
  const unsigned scale_top = scales[s - 4] >> 6;
  const unsigned min_top = scales[s] >> 6;
  return {(low_nibbles & 0xfu) | (scale_top << 4), (low_nibbles >> 4) | (min_top << 4)};
}
// Values in 0..63; the 12 bytes must be zeroed first.
constexpr void set_k4_scale_min(std::uint8_t* scales, std::size_t s, ScaleMin value) {
  if (s < 4) {
    scales[s] = static_cast<std::uint8_t>(scales[s] | value.scale);
    scales[s + 4] = static_cast<std::uint8_t>(scales[s + 4] | value.min);
    return;
  }
  scales[s + 4] = static_cast<std::uint8_t>((value.scale & 0xfu) | ((value.min & 0xfu) << 4));
  scales[s - 4] = static_cast<std::uint8_t>(scales[s - 4] | ((value.scale >> 4) << 6));
  scales[s] = static_cast<std::uint8_t>(scales[s] | ((value.min >> 4) << 6));
}

}  // namespace mg::engine
