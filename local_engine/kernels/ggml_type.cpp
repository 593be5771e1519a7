#include "local_engine/kernels/ggml_type.h"

#include <array>
#include <cctype>
#include <limits>

namespace mg::engine {
namespace {

struct Row {
  GgmlType type;
  GgmlTypeTraits traits;
};

// Block sizes from ggml's block structs: a K-quant super-block holds 256 elements (QK_K), the older
// formats 32. Types the engine does not compute with are still named, so an error can say which.
constexpr std::array kTypes = {
    Row{GgmlType::f32, {"F32", 1, 4, true}},          Row{GgmlType::f16, {"F16", 1, 2, true}},
    Row{GgmlType::q4_0, {"Q4_0", 32, 18, true}},      Row{GgmlType::q4_1, {"Q4_1", 32, 20, true}},
    Row{GgmlType::q5_0, {"Q5_0", 32, 22, true}},      Row{GgmlType::q5_1, {"Q5_1", 32, 24, true}},
    Row{GgmlType::q8_0, {"Q8_0", 32, 34, true}},      Row{GgmlType::q8_1, {"Q8_1", 32, 36, false}},
    Row{GgmlType::q2_k, {"Q2_K", 256, 84, true}},     Row{GgmlType::q3_k, {"Q3_K", 256, 110, true}},
    Row{GgmlType::q4_k, {"Q4_K", 256, 144, true}},    Row{GgmlType::q5_k, {"Q5_K", 256, 176, true}},
    Row{GgmlType::q6_k, {"Q6_K", 256, 210, true}},    Row{GgmlType::q8_k, {"Q8_K", 256, 292, false}},
    Row{GgmlType::iq2_xxs, {"IQ2_XXS", 256, 66, false}}, Row{GgmlType::iq2_xs, {"IQ2_XS", 256, 74, false}},
    Row{GgmlType::iq3_xxs, {"IQ3_XXS", 256, 98, false}}, Row{GgmlType::iq1_s, {"IQ1_S", 256, 50, false}},
    Row{GgmlType::iq4_nl, {"IQ4_NL", 32, 18, false}}, Row{GgmlType::iq3_s, {"IQ3_S", 256, 110, false}},
    Row{GgmlType::iq2_s, {"IQ2_S", 256, 82, false}},  Row{GgmlType::iq4_xs, {"IQ4_XS", 256, 136, false}},
    Row{GgmlType::i8, {"I8", 1, 1, false}},           Row{GgmlType::i16, {"I16", 1, 2, false}},
    Row{GgmlType::i32, {"I32", 1, 4, false}},         Row{GgmlType::i64, {"I64", 1, 8, false}},
    Row{GgmlType::f64, {"F64", 1, 8, false}},         Row{GgmlType::iq1_m, {"IQ1_M", 256, 56, false}},
    Row{GgmlType::bf16, {"BF16", 1, 2, true}},        Row{GgmlType::tq1_0, {"TQ1_0", 256, 54, false}},
    Row{GgmlType::tq2_0, {"TQ2_0", 256, 66, false}},
};

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

}  // namespace

std::optional<GgmlTypeTraits> ggml_type_traits(std::uint32_t type_id) {
  for (const Row& row : kTypes) {
    if (static_cast<std::uint32_t>(row.type) == type_id) return row.traits;
  }
  return std::nullopt;
}

const GgmlTypeTraits& traits_of(GgmlType type) {
  for (const Row& row : kTypes) {
    if (row.type == type) return row.traits;
  }
  return kTypes.front().traits;  // unreachable for the enum's own values
}

std::optional<std::uint64_t> ggml_bytes(GgmlType type, std::uint64_t elements) {
  const GgmlTypeTraits& traits = traits_of(type);
  if (elements % traits.block_elements != 0) return std::nullopt;
  std::uint64_t blocks = elements / traits.block_elements;
  if (blocks > std::numeric_limits<std::uint64_t>::max() / traits.block_bytes) return std::nullopt;
  return blocks * traits.block_bytes;
}

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  for (const Row& row : kTypes) {
    if (same_name(row.traits.name, name)) return row.type;
  }
  return std::nullopt;
}

}  // namespace mg::engine
