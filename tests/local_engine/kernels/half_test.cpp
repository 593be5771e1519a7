// fp16 and bfloat16 conversions on their edge values: signed zeros, subnormals, the largest finite values,
// infinities, NaN, and rounding ties (which go to the even neighbour).
#include "local_engine/kernels/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace mg::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

bool is_negative_zero(float f) { return f == 0.0f && std::signbit(f); }
bool is_fp16_nan(std::uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }
bool is_bf16_nan(std::uint16_t b) { return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0; }

TEST(HalfTest, Fp16WidensEdgeValues) {
  EXPECT_EQ(std::bit_cast<std::uint32_t>(fp16_to_fp32(0x0000)), 0u);
  EXPECT_TRUE(is_negative_zero(fp16_to_fp32(0x8000)));
  EXPECT_EQ(fp16_to_fp32(0x0001), 0x1p-24f);              // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x83ff), -1023.0f * 0x1p-24f);   // largest subnormal, negative
  EXPECT_EQ(fp16_to_fp32(0x0400), 0x1p-14f);              // smallest normal
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0x3555), 0x1.554p-2f);           // 0.333251953125
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0f);              // largest finite
  EXPECT_EQ(fp16_to_fp32(0x7c00), kInf);
  EXPECT_EQ(fp16_to_fp32(0xfc00), -kInf);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7e00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7c01)));
  EXPECT_EQ(std::bit_cast<std::uint32_t>(fp16_to_fp32(0xfc01)), 0xffc02000u);  // made quiet, as F16C does
}

TEST(HalfTest, Fp16NarrowsEdgeValues) {
  EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7bff);   // below the midpoint to 2^16
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);    // the midpoint: ties to even, which is infinity
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(kInf), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-kInf), 0xfc00);
  EXPECT_TRUE(is_fp16_nan(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(is_fp16_nan(fp32_to_fp16(std::bit_cast<float>(0x7f800001u))));  // payload only in low bits
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0xffc00000u)) & 0x8000, 0x8000);  // NaN keeps its sign
}

TEST(HalfTest, Fp16NarrowsSubnormalsWithTiesToEven) {
  EXPECT_EQ(fp32_to_fp16(0x1p-24f), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-0x1p-24f), 0x8001);
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);              // halfway to the smallest subnormal: even is 0
  EXPECT_EQ(fp32_to_fp16(0x1.000002p-25f), 0x0001);       // just above halfway
  EXPECT_EQ(fp32_to_fp16(0x1p-26f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(3.0f * 0x1p-25f), 0x0002);       // 1.5 subnormal steps: tie to 2
  EXPECT_EQ(fp32_to_fp16(5.0f * 0x1p-25f), 0x0002);       // 2.5 steps: tie to 2
  EXPECT_EQ(fp32_to_fp16(0x1p-14f - 0x1p-25f), 0x0400);   // between largest subnormal and smallest normal
  EXPECT_EQ(fp32_to_fp16(0x1p-14f), 0x0400);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::denorm_min()), 0x8000);
}

TEST(HalfTest, Fp16NarrowsNormalsWithTiesToEven) {
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);         // tie between 0x3c00 and 0x3c01: even
  EXPECT_EQ(fp32_to_fp16(1.0f + 3.0f * 0x1p-11f), 0x3c02);  // tie between 0x3c01 and 0x3c02: even
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  EXPECT_EQ(fp32_to_fp16(2.0f - 0x1p-12f), 0x4000);         // mantissa carry into the exponent
  EXPECT_EQ(fp32_to_fp16(0.1f), 0x2e66);
}

TEST(HalfTest, Fp16RoundTripsEveryHalf) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    if (is_fp16_nan(h)) {
      EXPECT_TRUE(is_fp16_nan(fp32_to_fp16(fp16_to_fp32(h)))) << bits;
    } else {
      EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(h)), h) << bits;
    }
  }
}

TEST(HalfTest, Bf16WidensByShifting) {
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0x4049), 3.140625f);
  EXPECT_TRUE(is_negative_zero(bf16_to_fp32(0x8000)));
  EXPECT_EQ(bf16_to_fp32(0x0001), 0x1p-133f);  // smallest subnormal
  EXPECT_EQ(bf16_to_fp32(0x7f7f), 0x1.fep127f);  // largest finite
  EXPECT_EQ(bf16_to_fp32(0xff80), -kInf);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(0x7fc0)));
}

TEST(HalfTest, Bf16NarrowsWithTiesToEven) {
  EXPECT_EQ(fp32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie: even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie: even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00008000u)), 0x0000);  // subnormal tie
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
  EXPECT_EQ(fp32_to_bf16(-kInf), 0xff80);
  EXPECT_TRUE(is_bf16_nan(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(is_bf16_nan(fp32_to_bf16(std::bit_cast<float>(0x7f800001u))));  // truncation would give inf
  EXPECT_TRUE(is_bf16_nan(fp32_to_bf16(std::bit_cast<float>(0xffffffffu))));  // and rounding would overflow
}

TEST(HalfTest, Bf16RoundTripsEveryBfloat) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto b = static_cast<std::uint16_t>(bits);
    if (is_bf16_nan(b)) {
      EXPECT_TRUE(is_bf16_nan(fp32_to_bf16(bf16_to_fp32(b)))) << bits;
    } else {
      EXPECT_EQ(fp32_to_bf16(bf16_to_fp32(b)), b) << bits;
    }
  }
}

TEST(HalfTest, ConversionsAreConstexpr) {
  static_assert(fp32_to_fp16(1.0f) == 0x3c00);
  static_assert(fp16_to_fp32(0x0001) == 0x1p-24f);
  static_assert(fp32_to_bf16(-2.0f) == 0xc000);
  static_assert(bf16_to_fp32(0x3f80) == 1.0f);
  SUCCEED();
}

}  // namespace
}  // namespace mg::engine
