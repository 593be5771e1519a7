#include "local_engine/kernels/ggml_type.h"

#include <gtest/gtest.h>

namespace mg::engine {
namespace {

TEST(GgmlTypeTest, KnowsTheBlockLayoutsOfTheCommonDownloads) {
  // Bytes per block from the block structs: Q4_0 is an f16 scale and 16 bytes of nibbles; Q8_0 an f16
  // scale and 32 int8; Q4_K 2 f16 + 12 scale bytes + 128 nibble bytes; Q6_K 128 + 64 + 16 + f16.
  EXPECT_EQ(ggml_type_traits(2)->block_bytes, 18u);
  EXPECT_EQ(ggml_type_traits(8)->block_bytes, 34u);
  EXPECT_EQ(ggml_type_traits(12)->block_bytes, 144u);
  EXPECT_EQ(ggml_type_traits(14)->block_bytes, 210u);
  EXPECT_EQ(ggml_type_traits(14)->block_elements, 256u);
  EXPECT_EQ(ggml_type_traits(30)->name, "BF16");
}

TEST(GgmlTypeTest, RetiredAndUnknownIdsAreNotTypes) {
  EXPECT_FALSE(ggml_type_traits(4).has_value());
  EXPECT_FALSE(ggml_type_traits(5).has_value());
  EXPECT_FALSE(ggml_type_traits(1000).has_value());
}

TEST(GgmlTypeTest, BytesNeedWholeBlocksAndNoOverflow) {
  EXPECT_EQ(ggml_bytes(GgmlType::q4_k, 4096), 16u * 144u);
  EXPECT_FALSE(ggml_bytes(GgmlType::q4_k, 100).has_value());
  EXPECT_FALSE(ggml_bytes(GgmlType::f32, UINT64_MAX / 2).has_value());
  EXPECT_EQ(ggml_bytes(GgmlType::f16, 3), 6u);
}

TEST(GgmlTypeTest, NamesRoundTrip) {
  EXPECT_EQ(ggml_type_from_name("q6_k"), GgmlType::q6_k);
  EXPECT_EQ(ggml_type_from_name("BF16"), GgmlType::bf16);
  EXPECT_FALSE(ggml_type_from_name("Q4_K_M").has_value());  // a file "mix", not a tensor type
}

}  // namespace
}  // namespace mg::engine
