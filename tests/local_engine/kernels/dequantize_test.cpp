// The reference dequantizers against hand-built blocks. Each test sets a block's scales and quant bits
// explicitly (every bit position exercised by a pseudo-random fill), then works out every element's
// value from ggml's documented layout with its own loops, written the way ggml's reference describes the
// format (halves, bit pairs, nibble halves), not through quant_blocks.h's position helpers.
#include "local_engine/kernels/dequantize.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "local_engine/kernels/quant_blocks.h"

namespace mg::engine {
namespace {

template <class Block>
std::vector<float> decode(GgmlType type, const Block& block) {
  std::vector<float> out(traits_of(type).block_elements);
  dequantize_row(type, &block, out.data(), out.size());
  return out;
}

// Deterministic bytes covering every bit position.
template <std::size_t N>
void fill_pattern(std::uint8_t (&bytes)[N], std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (std::uint8_t& byte : bytes) byte = static_cast<std::uint8_t>(rng());
}

void expect_elements_eq(const std::vector<float>& got, const std::vector<float>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], expected[i]) << "element " << i;
}

std::string error_of(void (*call)()) {
  try {
    call();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(DequantizeTest, BlockStructsHaveGgmlsByteSizes) {
  EXPECT_EQ(sizeof(BlockQ4_0), traits_of(GgmlType::q4_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_1), traits_of(GgmlType::q4_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_0), traits_of(GgmlType::q5_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_1), traits_of(GgmlType::q5_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_0), traits_of(GgmlType::q8_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ2_K), traits_of(GgmlType::q2_k).block_bytes);
  EXPECT_EQ(sizeof(BlockQ3_K), traits_of(GgmlType::q3_k).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_K), traits_of(GgmlType::q4_k).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_K), traits_of(GgmlType::q5_k).block_bytes);
  EXPECT_EQ(sizeof(BlockQ6_K), traits_of(GgmlType::q6_k).block_bytes);
  EXPECT_EQ(offsetof(BlockQ2_K, d), 80u);  // the K-quants put their fp16 scales where ggml does
  EXPECT_EQ(offsetof(BlockQ3_K, d), 108u);
  EXPECT_EQ(offsetof(BlockQ5_K, qs), 48u);
  EXPECT_EQ(offsetof(BlockQ6_K, scales), 192u);
}

TEST(DequantizeTest, PlainFloatTypesWidenTheirBits) {
  const std::uint8_t f16[] = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00};  // 1, -2, 65504, 2^-24
  std::vector<float> out(4);
  dequantize_row(GgmlType::f16, f16, out.data(), 4);
  expect_elements_eq(out, {1.0f, -2.0f, 65504.0f, 0x1p-24f});

  const std::uint8_t bf16[] = {0x80, 0x3f, 0x49, 0x40, 0x80, 0xff, 0x00, 0x80};  // 1, 3.140625, -inf, -0
  dequantize_row(GgmlType::bf16, bf16, out.data(), 4);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 3.140625f);
  EXPECT_EQ(out[2], -INFINITY);
  EXPECT_TRUE(out[3] == 0.0f && std::signbit(out[3]));

  const float f32[] = {1.5f, -7.25f, 1e30f, 0.0f};
  dequantize_row(GgmlType::f32, f32, out.data(), 4);
  expect_elements_eq(out, {1.5f, -7.25f, 1e30f, 0.0f});
}

TEST(DequantizeTest, Q4_0PutsElementIInTheLowNibbleAndElementIPlus16InTheHighNibbleOfByteI) {
  BlockQ4_0 block{};
  block.d = 0xb800;  // -0.5
  fill_pattern(block.qs, 1);
  block.qs[0] = 0x1f;
  std::vector<float> expected(32);
  for (int i = 0; i < 16; ++i) {
    expected[i] = -0.5f * static_cast<float>((block.qs[i] & 0xf) - 8);
    expected[i + 16] = -0.5f * static_cast<float>((block.qs[i] >> 4) - 8);
  }
  const std::vector<float> out = decode(GgmlType::q4_0, block);
  expect_elements_eq(out, expected);
  EXPECT_EQ(out[0], -3.5f);  // -0.5 * (15 - 8)
  EXPECT_EQ(out[16], 3.5f);  // -0.5 * (1 - 8)
}

TEST(DequantizeTest, Q4_1AddsItsMinToScaledNibbles) {
  BlockQ4_1 block{};
  block.d = 0x3400;  // 0.25
  block.m = 0xbe00;  // -1.5
  fill_pattern(block.qs, 2);
  std::vector<float> expected(32);
  for (int i = 0; i < 16; ++i) {
    expected[i] = 0.25f * static_cast<float>(block.qs[i] & 0xf) - 1.5f;
    expected[i + 16] = 0.25f * static_cast<float>(block.qs[i] >> 4) - 1.5f;
  }
  expect_elements_eq(decode(GgmlType::q4_1, block), expected);
}

// Q5_0/Q5_1: the fifth bit of element e is bit e of qh read as a little-endian 32-bit word.
std::uint32_t little_endian_word(const std::uint8_t (&bytes)[4]) {
  return bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (static_cast<std::uint32_t>(bytes[3]) << 24);
}

std::vector<int> five_bit_quants(const std::uint8_t (&qs)[16], const std::uint8_t (&qh)[4]) {
  const std::uint32_t high_bits = little_endian_word(qh);
  std::vector<int> quants(32);
  for (int i = 0; i < 16; ++i) {
    quants[i] = (qs[i] & 0xf) | static_cast<int>(((high_bits >> i) & 1) << 4);
    quants[i + 16] = (qs[i] >> 4) | static_cast<int>(((high_bits >> (i + 16)) & 1) << 4);
  }
  return quants;
}

TEST(DequantizeTest, Q5_0TakesFifthBitsFromALittleEndianWord) {
  BlockQ5_0 block{};
  block.d = 0x3400;  // 0.25
  fill_pattern(block.qs, 3);
  const std::uint8_t qh[4] = {0xa5, 0x0f, 0xf0, 0x3c};
  std::memcpy(block.qh, qh, 4);
  block.qs[8] = 0x0f;  // element 8: nibble 15, qh bit 8 (byte 1 bit 0) set -> 31; element 24: 0 + bit 24 (0) -> 0
  std::vector<float> expected(32);
  const std::vector<int> quants = five_bit_quants(block.qs, block.qh);
  for (int e = 0; e < 32; ++e) expected[e] = 0.25f * static_cast<float>(quants[e] - 16);
  const std::vector<float> out = decode(GgmlType::q5_0, block);
  expect_elements_eq(out, expected);
  EXPECT_EQ(out[8], 0.25f * 15);
  EXPECT_EQ(out[24], 0.25f * -16);
}

TEST(DequantizeTest, Q5_1AddsItsMinToScaledFiveBitQuants) {
  BlockQ5_1 block{};
  block.d = 0x3800;  // 0.5
  block.m = 0xc200;  // -3
  fill_pattern(block.qs, 4);
  fill_pattern(block.qh, 5);
  std::vector<float> expected(32);
  const std::vector<int> quants = five_bit_quants(block.qs, block.qh);
  for (int e = 0; e < 32; ++e) expected[e] = 0.5f * static_cast<float>(quants[e]) - 3.0f;
  expect_elements_eq(decode(GgmlType::q5_1, block), expected);
}

TEST(DequantizeTest, Q8_0ScalesSignedBytes) {
  BlockQ8_0 block{};
  block.d = 0x3000;  // 0.125
  for (int e = 0; e < 32; ++e) block.qs[e] = static_cast<std::int8_t>(e * 8 - 128);  // -128..120
  std::vector<float> expected(32);
  for (int e = 0; e < 32; ++e) expected[e] = 0.125f * static_cast<float>(e * 8 - 128);
  expect_elements_eq(decode(GgmlType::q8_0, block), expected);
}

// The 2-bit fields of Q2_K and Q3_K (and Q6_K's high bits): each 128-element half owns 32 bytes; byte l of
// a half holds, from its lowest bit pair up, elements l, l + 32, l + 64 and l + 96 of that half.
int two_bit_quant(const std::uint8_t* bytes, int half, int pair, int l) {
  return (bytes[32 * half + l] >> (2 * pair)) & 3;
}

TEST(DequantizeTest, Q2_KUsesFourBitScalesAndMinsPerSixteenElements) {
  BlockQ2_K block{};
  block.d = 0x3800;     // 0.5
  block.dmin = 0x3400;  // 0.25
  fill_pattern(block.scales, 6);
  fill_pattern(block.qs, 7);
  std::vector<float> expected(256);
  for (int half = 0; half < 2; ++half) {
    for (int pair = 0; pair < 4; ++pair) {
      for (int l = 0; l < 32; ++l) {
        const int sub = 8 * half + 2 * pair + l / 16;  // = element / 16
        const float scale = 0.5f * static_cast<float>(block.scales[sub] & 0xf);
        const float min = 0.25f * static_cast<float>(block.scales[sub] >> 4);
        const int q = two_bit_quant(block.qs, half, pair, l);
        expected[128 * half + 32 * pair + l] = scale * static_cast<float>(q) - min;
      }
    }
  }
  expect_elements_eq(decode(GgmlType::q2_k, block), expected);
}

TEST(DequantizeTest, Q3_KUnpacksSixBitScalesAndTakesHighBitsFromTheMask) {
  BlockQ3_K block{};
  block.d = 0x3800;  // 0.5
  // Sixteen 6-bit scales stored with a bias of 32, packed by hand: the low nibbles of scales 0-7 and 8-15
  // share bytes 0-7 (low, high nibble); byte 8 + k holds the top 2 bits of scales k, k + 4, k + 8, k + 12.
  // Biased: 0 63 32 33 31 1 45 20 | 50 10 62 7 40 16 48 35.
  const std::uint8_t packed[12] = {0x20, 0xaf, 0xe0, 0x71, 0x8f, 0x01, 0x0d, 0x34, 0xb4, 0x43, 0xfa, 0x86};
  const int scales[16] = {-32, 31, 0, 1, -1, -31, 13, -12, 18, -22, 30, -25, 8, -16, 16, 3};
  std::memcpy(block.scales, packed, 12);
  fill_pattern(block.qs, 8);
  fill_pattern(block.hmask, 9);
  std::vector<float> expected(256);
  for (int half = 0; half < 2; ++half) {
    for (int pair = 0; pair < 4; ++pair) {
      for (int l = 0; l < 32; ++l) {
        const int sub = 8 * half + 2 * pair + l / 16;
        const bool high_bit = (block.hmask[l] >> (4 * half + pair)) & 1;  // bit = element / 32
        const int q = two_bit_quant(block.qs, half, pair, l) - (high_bit ? 0 : 4);
        expected[128 * half + 32 * pair + l] = 0.5f * static_cast<float>(scales[sub]) * static_cast<float>(q);
      }
    }
  }
  expect_elements_eq(decode(GgmlType::q3_k, block), expected);
}

// Q4_K/Q5_K: 8 scales and 8 mins of 6 bits, packed by hand. Scales 0-3 and mins 0-3 sit in the low 6
// bits of bytes 0-3 and 4-7; scales and mins 4-7 keep their low nibbles in bytes 8-11 (scale low, min
// high) and their top 2 bits in the top bits of bytes 0-3 (scales) and 4-7 (mins).
constexpr std::uint8_t kPackedK4Scales[12] = {0x81, 0xc2, 0xc3, 0x44, 0x85, 0x46, 0xc7, 0xc8, 0x15, 0x12, 0x1f, 0xc4};
constexpr int kK4Scales[8] = {1, 2, 3, 4, 37, 50, 63, 20};
constexpr int kK4Mins[8] = {5, 6, 7, 8, 33, 17, 49, 60};

// Each 64-element group owns 32 bytes of nibbles: its first 32 elements in the low nibbles, the next 32
// in the high nibbles. The fifth bit (Q5_K) of element e is bit e / 32 of qh[e % 32].
std::vector<float> expected_k4(const std::uint8_t* qs, const std::uint8_t* qh, float d, float dmin) {
  std::vector<float> expected(256);
  for (int group = 0; group < 4; ++group) {
    for (int nibble_half = 0; nibble_half < 2; ++nibble_half) {
      const int sub = 2 * group + nibble_half;
      for (int l = 0; l < 32; ++l) {
        int q = (qs[32 * group + l] >> (4 * nibble_half)) & 0xf;
        if (qh != nullptr) q |= ((qh[l] >> sub) & 1) << 4;
        expected[32 * sub + l] = d * static_cast<float>(kK4Scales[sub]) * static_cast<float>(q) -
                                 dmin * static_cast<float>(kK4Mins[sub]);
      }
    }
  }
  return expected;
}

TEST(DequantizeTest, Q4_KUnpacksSixBitScalesAndMins) {
  BlockQ4_K block{};
  block.d = 0x3800;     // 0.5
  block.dmin = 0x2c00;  // 0.0625
  std::memcpy(block.scales, kPackedK4Scales, 12);
  fill_pattern(block.qs, 10);
  expect_elements_eq(decode(GgmlType::q4_k, block), expected_k4(block.qs, nullptr, 0.5f, 0.0625f));
}

TEST(DequantizeTest, Q5_KAddsFifthBitsToQ4_KsLayout) {
  BlockQ5_K block{};
  block.d = 0x3400;     // 0.25
  block.dmin = 0x3800;  // 0.5
  std::memcpy(block.scales, kPackedK4Scales, 12);
  fill_pattern(block.qs, 11);
  fill_pattern(block.qh, 12);
  expect_elements_eq(decode(GgmlType::q5_k, block), expected_k4(block.qs, block.qh, 0.25f, 0.5f));
}

TEST(DequantizeTest, Q6_KCombinesLowNibblesAndHighBitPairsWithSignedScales) {
  BlockQ6_K block{};
  block.d = 0x2c00;  // 0.0625
  const std::int8_t scales[16] = {-128, 127, 1, -1, 64, -64, 3, -7, 100, -100, 0, 5, 9, 17, -33, 44};
  std::memcpy(block.scales, scales, 16);
  fill_pattern(block.ql, 13);
  fill_pattern(block.qh, 14);
  // Each 128-element half owns 64 bytes of ql and 32 of qh. Byte l of ql's first 32 holds elements l
  // (low nibble) and l + 64 (high); byte 32 + l holds l + 32 and l + 96. qh's byte l holds their top bit
  // pairs in the order l, l + 32, l + 64, l + 96.
  std::vector<float> expected(256);
  for (int half = 0; half < 2; ++half) {
    const std::uint8_t* ql = block.ql + 64 * half;
    for (int l = 0; l < 32; ++l) {
      const int low[4] = {ql[l] & 0xf, ql[l + 32] & 0xf, ql[l] >> 4, ql[l + 32] >> 4};
      for (int quarter = 0; quarter < 4; ++quarter) {
        const int q = low[quarter] | (two_bit_quant(block.qh, half, quarter, l) << 4);
        const int sub = 8 * half + 2 * quarter + l / 16;
        expected[128 * half + 32 * quarter + l] =
            0.0625f * static_cast<float>(scales[sub]) * static_cast<float>(q - 32);
      }
    }
  }
  expect_elements_eq(decode(GgmlType::q6_k, block), expected);
}

TEST(DequantizeTest, ReadsConsecutiveBlocksFromUnalignedBytes) {
  BlockQ4_K blocks[2]{};
  for (BlockQ4_K& block : blocks) {
    block.d = 0x3800;
    block.dmin = 0x2c00;
    std::memcpy(block.scales, kPackedK4Scales, 12);
  }
  fill_pattern(blocks[0].qs, 15);
  fill_pattern(blocks[1].qs, 16);
  std::vector<std::uint8_t> unaligned(1 + sizeof(blocks));
  std::memcpy(unaligned.data() + 1, blocks, sizeof(blocks));
  std::vector<float> out(512);
  dequantize_row(GgmlType::q4_k, unaligned.data() + 1, out.data(), out.size());
  expect_elements_eq({out.begin(), out.begin() + 256}, expected_k4(blocks[0].qs, nullptr, 0.5f, 0.0625f));
  expect_elements_eq({out.begin() + 256, out.end()}, expected_k4(blocks[1].qs, nullptr, 0.5f, 0.0625f));
}

TEST(DequantizeTest, RejectsUnsupportedTypesAndPartialBlocks) {
  EXPECT_EQ(error_of([] {
              float out[256];
              const std::uint8_t block[74] = {};
              dequantize_row(GgmlType::iq2_xs, block, out, 256);
            }),
            "dequantize: type IQ2_XS is not supported");
  EXPECT_EQ(error_of([] {
              float out[100];
              const std::uint8_t block[144] = {};
              dequantize_row(GgmlType::q4_k, block, out, 100);
            }),
            "dequantize: Q4_K needs a multiple of 256 elements; got 100");
  EXPECT_EQ(error_of([] {
              const float in[40] = {};
              std::uint8_t blocks[68];
              quantize_row(GgmlType::q8_0, in, blocks, 40);
            }),
            "quantize: Q8_0 needs a multiple of 32 elements; got 40");
  EXPECT_EQ(error_of([] {
              const float in[32] = {};
              std::uint8_t blocks[36];
              quantize_row(GgmlType::q8_1, in, blocks, 32);
            }),
            "quantize: type Q8_1 is not supported");
  EXPECT_FALSE(row_conversion_supported(GgmlType::q8_k));
  EXPECT_TRUE(row_conversion_supported(GgmlType::q6_k));
}

TEST(DequantizeTest, ZeroElementsTouchNothing) {
  EXPECT_NO_THROW(dequantize_row(GgmlType::q6_k, nullptr, nullptr, 0));
  EXPECT_NO_THROW(quantize_row(GgmlType::f32, nullptr, nullptr, 0));
}

}  // namespace
}  // namespace mg::engine
