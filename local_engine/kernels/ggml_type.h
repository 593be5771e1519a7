// The tensor element types of GGUF files (ggml's type ids) and their block layouts: how many elements a
// block holds and how many bytes it takes. The reader uses this to check every tensor's byte size; the
// dequantizers and kernels use it to walk rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mg::engine {

// ggml's numbering, as stored in a GGUF tensor info. Ids 4 and 5 were retired by ggml and never reused.
enum class GgmlType : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23,
  i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35,
};

struct GgmlTypeTraits {
  std::string_view name;       // as llama.cpp prints it: "Q4_K", "F16"
  std::size_t block_elements;  // elements per block (1 for plain floats and integers)
  std::size_t block_bytes;     // bytes per block
  bool weights_supported;      // the engine can compute with weights of this type
};

// Nullopt for an id no ggml version has used.
std::optional<GgmlTypeTraits> ggml_type_traits(std::uint32_t type_id);
// For a known type (precondition: ggml_type_traits(type) has a value).
const GgmlTypeTraits& traits_of(GgmlType type);

// Bytes of `elements` elements of `type`; nullopt when `elements` is not a whole number of blocks or the
// size would overflow.
std::optional<std::uint64_t> ggml_bytes(GgmlType type, std::uint64_t elements);

// "Q4_K" -> q4_k (case-insensitive); nullopt when unknown.
std::optional<GgmlType> ggml_type_from_name(std::string_view name);

}  // namespace mg::engine
