// The quantized dot products on every ISA this machine runs: the SIMD tables against the scalar
// reference (bit for bit where the float arithmetic is exact, within a summation-order tolerance where it
// is not), the reference against float arithmetic on the dequantized weights, the activation quantizers'
// bytes and error bounds, and the multi-column driver against single rows. The choice of table is in
// kernel_isa_choice_test.cpp.
//
// Buffers end exactly where their allocation ends and start 0, 1, 3 or 7 bytes into it, so a kernel that
// reads past a row (under ASan) or assumes alignment fails here.
#include "local_engine/kernels/quantized_dot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "local_engine/kernels/dequantize.h"
#include "local_engine/kernels/half.h"
#include "local_engine/kernels/quant_blocks.h"

namespace mg::engine {
namespace {

constexpr std::array kWeightTypes = {
    GgmlType::f32,  GgmlType::f16,  GgmlType::bf16, GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1,
    GgmlType::q8_0, GgmlType::q2_k, GgmlType::q3_k, GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k,
};
constexpr std::array<std::size_t, 4> kMisalignments = {0, 1, 3, 7};

// `size` bytes starting `misalignment` bytes into their allocation and ending at its end.
class Bytes {
 public:
  Bytes(std::size_t size, std::size_t misalignment)
      : storage_(std::make_unique<std::uint8_t[]>(size + misalignment)),
        data_(storage_.get() + misalignment),
        size_(size) {}
  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::unique_ptr<std::uint8_t[]> storage_;
  std::uint8_t* data_;
  std::size_t size_;
};

std::size_t block_elements(GgmlType type) { return traits_of(type).block_elements; }
std::string name_of(GgmlType type) { return std::string(traits_of(type).name); }

}  // namespace

// For GoogleTest's messages ("Q4_K" rather than the enum's bytes); static, as other tests may print it too.
static void PrintTo(GgmlType type, std::ostream* out) { *out << traits_of(type).name; }

namespace {

// Lengths 0..2N blocks: past every kernel's unrolled step (two 32-element blocks, pairs of pairs on
// AVX-512, 32 floats) and through each tail.
std::vector<std::size_t> test_lengths(GgmlType type) {
  const std::size_t max_blocks = block_elements(type) == 1 ? 80 : block_elements(type) == QK_K ? 8 : 16;
  std::vector<std::size_t> lengths;
  for (std::size_t blocks = 0; blocks <= max_blocks; ++blocks) lengths.push_back(blocks * block_elements(type));
  return lengths;
}

// How the test rows are scaled. `exact`: every scale is 1 and float weights small integers, so every
// product and partial sum is an integer below 2^24 and float arithmetic is exact in any order. `random`:
// scales of random size and sign, as in real files.
enum class Scales { exact, random };

// Byte offsets of a block's fp16 scales.
std::vector<std::size_t> half_scale_offsets(GgmlType type) {
  switch (type) {
    case GgmlType::q4_0: return {offsetof(BlockQ4_0, d)};
    case GgmlType::q4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
    case GgmlType::q5_0: return {offsetof(BlockQ5_0, d)};
    case GgmlType::q5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
    case GgmlType::q8_0: return {offsetof(BlockQ8_0, d)};
    case GgmlType::q2_k: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case GgmlType::q3_k: return {offsetof(BlockQ3_K, d)};
    case GgmlType::q4_k: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case GgmlType::q5_k: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case GgmlType::q6_k: return {offsetof(BlockQ6_K, d)};
    default: return {};
  }
}

void store_u16(std::uint8_t* p, std::uint16_t bits) { std::memcpy(p, &bits, sizeof(bits)); }

// A weight row of n elements: random bytes (every quant and sub-block scale bit pattern) with the fp16
// scales overwritten; float weights drawn directly.
void fill_weights(GgmlType type, Scales scales, std::uint8_t* out, std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small_int(-8, 8);
  const auto value = [&] { return scales == Scales::exact ? static_cast<float>(small_int(rng)) : unit(rng); };
  switch (type) {
    case GgmlType::f32:
      for (std::size_t i = 0; i < n; ++i) { const float v = value(); std::memcpy(out + 4 * i, &v, 4); }
      return;
    case GgmlType::f16: for (std::size_t i = 0; i < n; ++i) store_u16(out + 2 * i, fp32_to_fp16(value())); return;
    case GgmlType::bf16: for (std::size_t i = 0; i < n; ++i) store_u16(out + 2 * i, fp32_to_bf16(value())); return;
    default: break;
  }
  const std::size_t bytes = *ggml_bytes(type, n);
  for (std::size_t i = 0; i < bytes; ++i) out[i] = static_cast<std::uint8_t>(rng());
  std::uniform_real_distribution<float> magnitude(0.002f, 0.05f);
  for (std::size_t block = 0; block < n / block_elements(type); ++block) {
    for (std::size_t offset : half_scale_offsets(type)) {
      const float scale = scales == Scales::exact ? 1.0f : (rng() % 2 ? 1.0f : -1.0f) * magnitude(rng);
      store_u16(out + block * traits_of(type).block_bytes + offset, fp32_to_fp16(scale));
    }
  }
}

// Gaussian activations whose spread changes every 32 elements.
std::vector<float> random_activations(std::size_t n, std::mt19937& rng) {
  std::normal_distribution<float> gaussian(0.0f, 1.0f);
  std::uniform_real_distribution<float> spread(0.1f, 3.0f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; i += 32) {
    const float s = spread(rng);
    for (std::size_t j = i; j < std::min(n, i + 32); ++j) x[j] = s * gaussian(rng);
  }
  return x;
}

// Sets every activation block's d to 1 (Q8_1's s follows), for Scales::exact.
void unit_activation_scales(GgmlType activation_type, std::uint8_t* a, std::size_t n) {
  if (activation_type == GgmlType::q8_k) {
    for (std::size_t b = 0; b < n / QK_K; ++b) {
      const float one = 1.0f;
      std::memcpy(a + b * sizeof(BlockQ8_K) + offsetof(BlockQ8_K, d), &one, sizeof(one));
    }
  } else if (activation_type == GgmlType::q8_0) {
    for (std::size_t b = 0; b < n / 32; ++b) store_u16(a + b * sizeof(BlockQ8_0), fp32_to_fp16(1.0f));
  } else if (activation_type == GgmlType::q8_1) {
    for (std::size_t b = 0; b < n / 32; ++b) {
      BlockQ8_1 block;
      std::memcpy(&block, a + b * sizeof(block), sizeof(block));
      int sum = 0;
      for (std::int8_t q : block.qs) sum += q;
      block.d = fp32_to_fp16(1.0f);
      block.s = fp32_to_fp16(static_cast<float>(sum));
      std::memcpy(a + b * sizeof(block), &block, sizeof(block));
    }
  }
}

// One random row and its activations, at chosen misalignments.
struct DotCase {
  GgmlType type;
  std::size_t n;
  std::vector<float> x;  // the activations before quantization
  Bytes weights;
  Bytes activations;

  DotCase(GgmlType t, std::size_t length, Scales scales, std::uint32_t seed, std::size_t weight_misalignment = 0,
          std::size_t activation_misalignment = 0)
      : type(t), n(length), weights(*ggml_bytes(t, length), weight_misalignment),
        activations(activation_bytes(activation_type_for(t), length), activation_misalignment) {
    std::mt19937 rng(seed);
    fill_weights(type, scales, weights.data(), n, rng);
    x = random_activations(n, rng);
    if (scales == Scales::exact && activation_type_for(type) == GgmlType::f32) {
      std::uniform_int_distribution<int> small_int(-8, 8);
      for (float& v : x) v = static_cast<float>(small_int(rng));
    }
    const GgmlType activation_type = activation_type_for(type);
    quantize_activations(*kernel_table(KernelIsa::scalar), activation_type, x.data(), activations.data(), n);
    if (scales == Scales::exact) unit_activation_scales(activation_type, activations.data(), n);
  }

  float dot(KernelIsa isa) const { return dot_row(*kernel_table(isa), type, weights.data(), activations.data(), n); }
};

// The activations as the kernels see them (d * q), decoded here from the block layouts.
std::vector<float> dequantized_activations(GgmlType activation_type, const std::uint8_t* a, std::size_t n) {
  std::vector<float> out(n);
  if (activation_type == GgmlType::f32 || activation_type == GgmlType::q8_0) {
    dequantize_row(activation_type, a, out.data(), n);
  } else if (activation_type == GgmlType::q8_1) {
    for (std::size_t b = 0; b < n / 32; ++b) {
      BlockQ8_1 block;
      std::memcpy(&block, a + b * sizeof(block), sizeof(block));
      for (std::size_t e = 0; e < 32; ++e) out[32 * b + e] = fp16_to_fp32(block.d) * block.qs[e];
    }
  } else {
    for (std::size_t b = 0; b < n / QK_K; ++b) {
      BlockQ8_K block;
      std::memcpy(&block, a + b * sizeof(block), sizeof(block));
      for (std::size_t e = 0; e < QK_K; ++e) out[QK_K * b + e] = block.d * block.qs[e];
    }
  }
  return out;
}

// sum |w_i| * |a_i| over the dequantized row and activations: the scale of the float rounding error.
double magnitude_of(GgmlType type, const std::uint8_t* weight_row, const std::uint8_t* activations, std::size_t n) {
  std::vector<float> w(n);
  dequantize_row(type, weight_row, w.data(), n);
  const std::vector<float> a = dequantized_activations(activation_type_for(type), activations, n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(w[i]) * a[i]);
  return sum;
}
double magnitude_of(const DotCase& c) { return magnitude_of(c.type, c.weights.data(), c.activations.data(), c.n); }

// Float results summed in different orders (SIMD lanes, pairs of blocks, scalar block order) differ by a
// few roundings of the partial sums. Measured here (GCC 12, this test's rows, largest over lengths and
// ISAs, recorded as a test property): 1.1e-7 of the magnitude for BF16, at most 4e-8 for the quantized
// types; 2e-6 (about 17 float epsilons) leaves a margin while any wrong integer shows.
constexpr double kSummationTolerance = 2e-6;

std::vector<KernelIsa> simd_isas() {
  std::vector<KernelIsa> isas;
  for (KernelIsa isa : available_kernel_isas()) {
    if (isa != KernelIsa::scalar) isas.push_back(isa);
  }
  return isas;
}

class QuantizedDotTest : public testing::TestWithParam<GgmlType> {};

TEST_P(QuantizedDotTest, SimdEqualsScalarBitForBitWhenFloatArithmeticIsExact) {
  const GgmlType type = GetParam();
  for (std::size_t n : test_lengths(type)) {
    for (std::size_t m = 0; m < kMisalignments.size(); ++m) {
      const DotCase c(type, n, Scales::exact, static_cast<std::uint32_t>(n * 7 + m), kMisalignments[m],
                      kMisalignments[(m + 2) % kMisalignments.size()]);
      const float expected = c.dot(KernelIsa::scalar);
      ASSERT_LT(std::fabs(expected), 0x1p23f) << "the exact case must stay exact";
      for (KernelIsa isa : simd_isas()) {
        EXPECT_EQ(c.dot(isa), expected) << kernel_isa_name(isa) << " n=" << n << " misalignment " << kMisalignments[m];
      }
    }
  }
}

TEST_P(QuantizedDotTest, SimdMatchesScalarWithinSummationOrderTolerance) {
  const GgmlType type = GetParam();
  std::vector<std::size_t> lengths = test_lengths(type);
  lengths.push_back(4096);
  double largest = 0.0;
  for (std::size_t n : lengths) {
    for (std::size_t m = 0; m < kMisalignments.size(); ++m) {
      const DotCase c(type, n, Scales::random, static_cast<std::uint32_t>(1000 + n * 7 + m), kMisalignments[m],
                      kMisalignments[(m + 1) % kMisalignments.size()]);
      const float expected = c.dot(KernelIsa::scalar);
      const double magnitude = magnitude_of(c);
      for (KernelIsa isa : simd_isas()) {
        const float got = c.dot(isa);
        EXPECT_NEAR(got, expected, kSummationTolerance * magnitude) << kernel_isa_name(isa) << " n=" << n;
        if (magnitude > 0) largest = std::max(largest, std::fabs(static_cast<double>(got) - expected) / magnitude);
      }
    }
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.3g", largest);
  RecordProperty("largest_difference_over_magnitude", text);
}

// |sum w x - sum w a| <= sum |w| |x - a|: the reference may differ from the float dot product of the
// dequantized weights with the original activations by the activation quantization error, plus (Q8_1)
// the rounding of s = d * sum(q) to fp16, plus float rounding.
TEST_P(QuantizedDotTest, ScalarReferenceAgreesWithFloatDotOfDequantizedRow) {
  const GgmlType type = GetParam();
  const GgmlType activation_type = activation_type_for(type);
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    const DotCase c(type, 2048, Scales::random, seed);
    std::vector<float> w(c.n);
    dequantize_row(type, c.weights.data(), w.data(), c.n);
    const std::vector<float> a = dequantized_activations(activation_type, c.activations.data(), c.n);
    double exact = 0.0;
    double quantization_error = 0.0;
    for (std::size_t i = 0; i < c.n; ++i) {
      exact += static_cast<double>(w[i]) * c.x[i];
      quantization_error += std::fabs(static_cast<double>(w[i])) * std::fabs(static_cast<double>(c.x[i]) - a[i]);
    }
    if (activation_type == GgmlType::q8_1) {
      for (std::size_t b = 0; b < c.n / 32; ++b) {
        BlockQ8_1 y;
        std::memcpy(&y, c.activations.data() + b * sizeof(y), sizeof(y));
        double dq_sum = 0.0;
        for (std::size_t e = 0; e < 32; ++e) dq_sum += a[32 * b + e];
        std::uint16_t m_bits;
        std::memcpy(&m_bits, c.weights.data() + b * traits_of(type).block_bytes + half_scale_offsets(type)[1], 2);
        quantization_error += std::fabs(fp16_to_fp32(m_bits)) * std::fabs(fp16_to_fp32(y.s) - dq_sum);
      }
    }
    const double bound = quantization_error + kSummationTolerance * magnitude_of(c);
    EXPECT_NEAR(c.dot(KernelIsa::scalar), exact, bound) << "seed " << seed;
    if (activation_type != GgmlType::f32) {
      EXPECT_GT(quantization_error, 0.0);  // activations were quantized
    }
  }
}

// Whether dot_rows() takes `table`'s whole-product kernel for `type` at n_cols columns, which sums in
// another order than dot_row().
bool takes_tile_kernel(const KernelTable& table, GgmlType type, std::size_t n_cols) {
  return type == GgmlType::q4_0 && table.rows_q4_0 != nullptr && n_cols >= kMinTileColumns;
}

// dot_rows() on every table against dot_row() for each row and column (bit for bit, or within the
// summation-order tolerance where a whole-product kernel sums in its own order), writing columns
// `stride` floats apart with gaps it must leave alone.
void expect_dot_rows_equal_dot_row(GgmlType type, std::size_t n, std::size_t n_rows, std::size_t n_cols) {
  const GgmlType activation_type = activation_type_for(type);
  const std::size_t row_bytes = *ggml_bytes(type, n);
  const std::size_t column_bytes = activation_bytes(activation_type, n);
  std::mt19937 rng(7);
  Bytes weights(row_bytes * n_rows, 3);
  fill_weights(type, Scales::random, weights.data(), n * n_rows, rng);
  Bytes activations(column_bytes * n_cols, 1);
  const std::vector<float> x = random_activations(n * n_cols, rng);
  for (std::size_t c = 0; c < n_cols; ++c) {
    quantize_activations(activation_type, x.data() + c * n, activations.data() + c * column_bytes, n);
  }
  for (KernelIsa isa : available_kernel_isas()) {
    const KernelTable& table = *kernel_table(isa);
    const std::size_t stride = n_rows + 2;
    std::vector<float> y(stride * n_cols, -1.0f);
    dot_rows(table, {type, weights.data(), row_bytes, n_rows, n}, {activations.data(), column_bytes, n_cols},
             {y.data(), stride});
    for (std::size_t c = 0; c < n_cols; ++c) {
      for (std::size_t r = 0; r < n_rows; ++r) {
        const std::uint8_t* row = weights.data() + r * row_bytes;
        const std::uint8_t* column = activations.data() + c * column_bytes;
        const float expected = dot_row(table, type, row, column, n);
        if (takes_tile_kernel(table, type, n_cols)) {
          EXPECT_NEAR(y[c * stride + r], expected, kSummationTolerance * magnitude_of(type, row, column, n))
              << kernel_isa_name(isa) << " row " << r << " column " << c;
        } else {
          EXPECT_EQ(y[c * stride + r], expected) << kernel_isa_name(isa) << " row " << r << " column " << c;
        }
      }
      EXPECT_EQ(y[c * stride + n_rows], -1.0f);
      EXPECT_EQ(y[c * stride + n_rows + 1], -1.0f);
    }
  }
}

TEST_P(QuantizedDotTest, MultiColumnProductEqualsSingleRows) {
  expect_dot_rows_equal_dot_row(GetParam(), 2 * QK_K, 5, 11);  // kernel calls of 4, 4 and 3 columns
  expect_dot_rows_equal_dot_row(GetParam(), QK_K, 37, 19);      // tiles of 16 rows and 8 columns, with tails
  expect_dot_rows_equal_dot_row(GetParam(), QK_K, 7, 3);       // below the tiles' 4 columns: row by row
}

// Rows of 64 KiB make blocks of 4 rows (256 KiB), so 9 rows take three blocks, the last of one row.
TEST(QuantizedDotTest, MultiColumnProductCrossesRowBlocks) {
  expect_dot_rows_equal_dot_row(GgmlType::f32, 16384, 9, 6);
}

TEST_P(QuantizedDotTest, EveryTableHasItsOwnKernelForTheType) {
  for (KernelIsa isa : available_kernel_isas()) {
    const KernelTable& table = *kernel_table(isa);
    EXPECT_EQ(table.isa, isa);
    EXPECT_NE(dot_kernel(table, GetParam()), nullptr);
    EXPECT_TRUE(has_own_dot_kernel(table, GetParam())) << kernel_isa_name(isa);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryWeightType, QuantizedDotTest, testing::ValuesIn(kWeightTypes),
                         [](const testing::TestParamInfo<GgmlType>& type) { return name_of(type.param); });

// ---- Activation quantization ----

class DotActivationsTest : public testing::TestWithParam<GgmlType> {};

TEST_P(DotActivationsTest, EveryTableWritesTheReferenceBytes) {
  const GgmlType type = GetParam();
  const std::size_t block = type == GgmlType::q8_k ? QK_K : 32;
  for (std::size_t blocks = 0; blocks <= 8; ++blocks) {
    const std::size_t n = blocks * block;
    std::mt19937 rng(static_cast<std::uint32_t>(blocks));
    std::vector<float> x = random_activations(n, rng);
    if (n > 0) std::fill(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(block / 2), 0.0f);  // a zero half
    if (blocks == 2) std::fill(x.begin() + static_cast<std::ptrdiff_t>(block), x.end(), 0.0f);  // a zero block
    Bytes expected(activation_bytes(type, n), 0);
    quantize_activations(*kernel_table(KernelIsa::scalar), type, x.data(), expected.data(), n);
    for (KernelIsa isa : simd_isas()) {
      for (std::size_t misalignment : kMisalignments) {
        Bytes got(expected.size(), misalignment);
        quantize_activations(*kernel_table(isa), type, x.data(), got.data(), n);
        EXPECT_EQ(std::memcmp(got.data(), expected.data(), expected.size()), 0)
            << kernel_isa_name(isa) << " n=" << n << " misalignment " << misalignment;
      }
    }
  }
}

// Each element comes back within half a step, plus (Q8_0, Q8_1) the fp16 rounding of d times |q| <= 127;
// Q8_1's s and Q8_K's bsums are the sums they claim to be.
TEST_P(DotActivationsTest, RoundTripsWithinHalfAStep) {
  const GgmlType type = GetParam();
  const std::size_t block = type == GgmlType::q8_k ? QK_K : 32;
  const std::size_t n = 16 * block;
  std::mt19937 rng(11);
  const std::vector<float> x = random_activations(n, rng);
  std::vector<std::uint8_t> bytes(activation_bytes(type, n));
  quantize_activations(type, x.data(), bytes.data(), n);
  const std::vector<float> back = dequantized_activations(type, bytes.data(), n);
  for (std::size_t b = 0; b < n / block; ++b) {
    float amax = 0.0f;
    for (std::size_t i = b * block; i < (b + 1) * block; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    // x * (1 / d) is a few roundings off x / d: 1e-4 of a step covers them.
    const double stored_d_error = type == GgmlType::q8_k ? 0.0 : std::fabs(fp16_to_fp32(fp32_to_fp16(d)) - d);
    for (std::size_t i = b * block; i < (b + 1) * block; ++i) {
      EXPECT_LE(std::fabs(x[i] - back[i]), 0.5 * d * (1 + 1e-4) + 127 * stored_d_error) << "element " << i;
    }
    if (type == GgmlType::q8_1) {
      BlockQ8_1 y;
      std::memcpy(&y, bytes.data() + b * sizeof(y), sizeof(y));
      int sum = 0;
      for (std::int8_t q : y.qs) sum += q;
      EXPECT_EQ(y.s, fp32_to_fp16(d * static_cast<float>(sum)));
    }
    if (type == GgmlType::q8_k) {
      BlockQ8_K y;
      std::memcpy(&y, bytes.data() + b * sizeof(y), sizeof(y));
      EXPECT_EQ(y.d, d);
      for (std::size_t s = 0; s < 16; ++s) {
        int sum = 0;
        for (std::size_t e = 16 * s; e < 16 * s + 16; ++e) sum += y.qs[e];
        EXPECT_EQ(y.bsums[s], sum) << "block " << b << " sub-block " << s;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryActivationType, DotActivationsTest,
                         testing::Values(GgmlType::q8_0, GgmlType::q8_1, GgmlType::q8_k),
                         [](const testing::TestParamInfo<GgmlType>& type) { return name_of(type.param); });

TEST(QuantizedDotTest, PairsActivationFormatsAsLlamaCpp) {
  EXPECT_EQ(activation_type_for(GgmlType::q4_0), GgmlType::q8_0);
  EXPECT_EQ(activation_type_for(GgmlType::q5_0), GgmlType::q8_0);
  EXPECT_EQ(activation_type_for(GgmlType::q8_0), GgmlType::q8_0);
  EXPECT_EQ(activation_type_for(GgmlType::q4_1), GgmlType::q8_1);
  EXPECT_EQ(activation_type_for(GgmlType::q5_1), GgmlType::q8_1);
  for (GgmlType k : {GgmlType::q2_k, GgmlType::q3_k, GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k}) {
    EXPECT_EQ(activation_type_for(k), GgmlType::q8_k);
  }
  for (GgmlType f : {GgmlType::f32, GgmlType::f16, GgmlType::bf16}) EXPECT_EQ(activation_type_for(f), GgmlType::f32);
  EXPECT_EQ(activation_bytes(GgmlType::q8_k, 512), 2 * sizeof(BlockQ8_K));
  EXPECT_EQ(activation_bytes(GgmlType::q8_1, 64), 2 * sizeof(BlockQ8_1));
}

TEST(QuantizedDotTest, RejectsTypesWithoutKernelsAndPartialBlocks) {
  const std::vector<std::uint8_t> bytes(1024);
  EXPECT_THROW(activation_type_for(GgmlType::iq4_nl), std::invalid_argument);
  EXPECT_THROW(dot_row(GgmlType::iq2_xs, bytes.data(), bytes.data(), 256), std::invalid_argument);
  EXPECT_THROW(dot_row(GgmlType::q4_0, bytes.data(), bytes.data(), 33), std::invalid_argument);
  EXPECT_THROW(activation_bytes(GgmlType::q8_k, 32), std::invalid_argument);
}

}  // namespace
}  // namespace mg::engine
