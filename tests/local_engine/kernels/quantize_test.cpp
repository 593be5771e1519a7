// The reference quantizers through the reference dequantizers: random rows must come back within a
// per-format error bound. The bounds sit a little above what the simple absmax/min-max quantizers
// measure, so a quant or scale written to the wrong bits (which scrambles elements) fails them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "local_engine/kernels/dequantize.h"

namespace mg::engine {
namespace {

// Gaussian values whose spread changes every 32 elements, so sub-block and super-block scales differ,
// with an offset on some blocks so the formats with mins have one to encode.
std::vector<float> random_row(std::size_t elements, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gaussian(0.0f, 1.0f);
  std::uniform_real_distribution<float> spread(0.05f, 2.0f);
  std::vector<float> row(elements);
  for (std::size_t start = 0; start < elements; start += 32) {
    const float scale = spread(rng);
    const float offset = (start / 32) % 3 == 0 ? scale : 0.0f;
    for (std::size_t i = start; i < start + 32; ++i) row[i] = offset + scale * gaussian(rng);
  }
  return row;
}

std::vector<float> round_trip(GgmlType type, const std::vector<float>& row) {
  std::vector<std::uint8_t> blocks(*ggml_bytes(type, row.size()));
  quantize_row(type, row.data(), blocks.data(), row.size());
  std::vector<float> back(row.size());
  dequantize_row(type, blocks.data(), back.data(), back.size());
  return back;
}

// sqrt(sum (x - y)^2 / sum x^2)
double relative_rms_error(const std::vector<float>& expected, const std::vector<float>& got) {
  double error = 0.0;
  double norm = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double diff = static_cast<double>(expected[i]) - static_cast<double>(got[i]);
    error += diff * diff;
    norm += static_cast<double>(expected[i]) * static_cast<double>(expected[i]);
  }
  return std::sqrt(error / norm);
}

struct RoundTripCase {
  GgmlType type;
  double max_relative_rms_error;
};

class QuantizeRoundTripTest : public testing::TestWithParam<RoundTripCase> {};

TEST_P(QuantizeRoundTripTest, DequantizedRowApproximatesTheInput) {
  const RoundTripCase& c = GetParam();
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    const std::vector<float> row = random_row(16 * 256, seed);
    const double error = relative_rms_error(row, round_trip(c.type, row));
    EXPECT_LT(error, c.max_relative_rms_error) << traits_of(c.type).name << " seed " << seed;
    RecordProperty(std::string(traits_of(c.type).name) + "_seed" + std::to_string(seed), std::to_string(error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryType, QuantizeRoundTripTest,
    // Measured over the three seeds (GCC 12, libstdc++): F16 2.1e-4, BF16 1.7e-3, Q8_0 0.53%, Q6_K 1.8%,
    // Q5_1 3.4%, Q5_K 3.4%, Q5_0 4.2%, Q4_1 6.9%, Q4_K 7.0%, Q4_0 8.5%, Q3_K 15.0%, Q2_K 29.5%.
    testing::Values(RoundTripCase{GgmlType::f32, 1e-12}, RoundTripCase{GgmlType::f16, 2.5e-4},
                    RoundTripCase{GgmlType::bf16, 2e-3}, RoundTripCase{GgmlType::q8_0, 0.0065},
                    RoundTripCase{GgmlType::q6_k, 0.022}, RoundTripCase{GgmlType::q5_1, 0.04},
                    RoundTripCase{GgmlType::q5_k, 0.04}, RoundTripCase{GgmlType::q5_0, 0.05},
                    RoundTripCase{GgmlType::q4_1, 0.08}, RoundTripCase{GgmlType::q4_k, 0.08},
                    RoundTripCase{GgmlType::q4_0, 0.10}, RoundTripCase{GgmlType::q3_k, 0.175},
                    RoundTripCase{GgmlType::q2_k, 0.34}),
    [](const testing::TestParamInfo<RoundTripCase>& case_info) {
      return std::string(traits_of(case_info.param.type).name);
    });

TEST(QuantizeTest, ZeroRowsStayZero) {
  for (GgmlType type : {GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1, GgmlType::q8_0,
                        GgmlType::q2_k, GgmlType::q3_k, GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k}) {
    const std::vector<float> back = round_trip(type, std::vector<float>(256, 0.0f));
    for (float v : back) ASSERT_EQ(v, 0.0f) << traits_of(type).name;
  }
}

TEST(QuantizeTest, AbsmaxFormatsReproduceEachBlocksLargestElement) {
  // They map it to their most negative level; with steps that fp16 holds exactly, it comes back exactly.
  std::vector<float> row(256, 0.0f);
  row[5] = -3.0f;
  row[40] = 1.5f;
  for (GgmlType type : {GgmlType::q4_0, GgmlType::q5_0, GgmlType::q3_k, GgmlType::q6_k}) {
    const std::vector<float> back = round_trip(type, row);
    EXPECT_FLOAT_EQ(back[5], -3.0f) << traits_of(type).name;
    EXPECT_FLOAT_EQ(back[40], 1.5f) << traits_of(type).name;
    EXPECT_EQ(back[6], 0.0f) << traits_of(type).name;
  }
}

TEST(QuantizeTest, WritesUnalignedBlocks) {
  const std::vector<float> row = random_row(256, 4);
  std::vector<std::uint8_t> aligned(*ggml_bytes(GgmlType::q5_k, 256));
  std::vector<std::uint8_t> unaligned(aligned.size() + 1);
  quantize_row(GgmlType::q5_k, row.data(), aligned.data(), 256);
  quantize_row(GgmlType::q5_k, row.data(), unaligned.data() + 1, 256);
  EXPECT_EQ(std::vector<std::uint8_t>(unaligned.begin() + 1, unaligned.end()), aligned);
}

}  // namespace
}  // namespace mg::engine
