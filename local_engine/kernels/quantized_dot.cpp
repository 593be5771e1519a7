// The public side of the quantized dot products: which activation format meets which weights, the choice
// of kernel table (once, from the CPU and MODELGATE_KERNELS), and the drivers that walk rows and columns
// through a table's kernels. No intrinsics here: this file is compiled for the baseline CPU.
#include "local_engine/kernels/quantized_dot.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "local_engine/kernels/quant_blocks.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace mg::engine {
namespace {

constexpr std::array kDotWeightTypes = {
    GgmlType::f32,  GgmlType::f16,  GgmlType::bf16, GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1,
    GgmlType::q8_0, GgmlType::q2_k, GgmlType::q3_k, GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k,
};

std::string type_name(GgmlType type) { return std::string(traits_of(type).name); }

[[noreturn]] void throw_unsupported(const char* operation, GgmlType type) {
  throw std::invalid_argument(std::string(operation) + ": no kernels for type " + type_name(type));
}

// Elements per block of the weight and activation types here (a switch, not traits_of()'s table scan:
// dot_row() asks once per row).
constexpr std::size_t block_elements(GgmlType type) {
  switch (type) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: return 1;
    case GgmlType::q2_k: case GgmlType::q3_k: case GgmlType::q4_k: case GgmlType::q5_k: case GgmlType::q6_k:
    case GgmlType::q8_k: return QK_K;
    default: return QK_LEGACY;
  }
}

void check_whole_blocks(const char* operation, GgmlType type, std::size_t n) {
  if (n % block_elements(type) != 0) {
    throw std::invalid_argument(std::string(operation) + ": " + type_name(type) + " needs a multiple of " +
                                std::to_string(block_elements(type)) + " elements; got " + std::to_string(n));
  }
}

std::uint64_t type_bit(GgmlType type) { return std::uint64_t{1} << static_cast<unsigned>(type); }

// The table as kernel_table() hands it out: the ISA's own kernels, the scalar ones where it has none.
KernelTable completed(const KernelTable& own) {
  const KernelTable& scalar = detail::scalar_kernel_table();
  KernelTable table = own;
  table.own_dot_kernels = 0;
  const auto fill = [&](DotColumnsFn KernelTable::*entry, GgmlType type) {
    if (own.*entry != nullptr) table.own_dot_kernels |= type_bit(type);
    else table.*entry = scalar.*entry;
  };
  fill(&KernelTable::dot_f32, GgmlType::f32);
  fill(&KernelTable::dot_f16, GgmlType::f16);
  fill(&KernelTable::dot_bf16, GgmlType::bf16);
  fill(&KernelTable::dot_q4_0, GgmlType::q4_0);
  fill(&KernelTable::dot_q4_1, GgmlType::q4_1);
  fill(&KernelTable::dot_q5_0, GgmlType::q5_0);
  fill(&KernelTable::dot_q5_1, GgmlType::q5_1);
  fill(&KernelTable::dot_q8_0, GgmlType::q8_0);
  fill(&KernelTable::dot_q2_k, GgmlType::q2_k);
  fill(&KernelTable::dot_q3_k, GgmlType::q3_k);
  fill(&KernelTable::dot_q4_k, GgmlType::q4_k);
  fill(&KernelTable::dot_q5_k, GgmlType::q5_k);
  fill(&KernelTable::dot_q6_k, GgmlType::q6_k);
  for (auto entry : {&KernelTable::quantize_q8_0, &KernelTable::quantize_q8_1, &KernelTable::quantize_q8_k}) {
    if (table.*entry == nullptr) table.*entry = scalar.*entry;
  }
  return table;
}

#if defined(__x86_64__) || defined(__i386__)
// CPUID leaf 1, ECX bit 29. Asked directly: clang before 16 does not know "f16c" in __builtin_cpu_supports.
// (F16C is VEX-encoded: the OS support for the wider registers that the "avx2" check covers covers it too.)
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
#endif

// Whether this CPU (and its OS, which must save the wider registers: __builtin_cpu_supports checks
// that too) runs `isa`'s table. The AVX-512 table also uses AVX2, FMA and F16C code.
bool cpu_runs(KernelIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  switch (isa) {
    case KernelIsa::scalar: return true;
    case KernelIsa::avx2: return avx2;
    case KernelIsa::avx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == KernelIsa::scalar;
#endif
}

const KernelTable* own_table(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::scalar: return &detail::scalar_kernel_table();
#if defined(__x86_64__) || defined(__i386__)
    case KernelIsa::avx2: return &detail::avx2_kernel_table();
    case KernelIsa::avx512: return &detail::avx512_kernel_table();
#endif
    default: return nullptr;
  }
}

constexpr std::array kAllIsas = {KernelIsa::scalar, KernelIsa::avx2, KernelIsa::avx512};

struct Tables {
  std::array<std::optional<KernelTable>, kAllIsas.size()> by_isa;
  std::vector<KernelIsa> available;  // scalar first, best last
};

const Tables& tables() {
  static const Tables built = [] {
    Tables t;
    for (KernelIsa isa : kAllIsas) {
      const KernelTable* own = own_table(isa);
      if (own == nullptr || !cpu_runs(isa)) continue;
      t.by_isa[static_cast<std::size_t>(isa)] = completed(*own);
      t.available.push_back(isa);
    }
    return t;
  }();
  return built;
}

std::string isa_requirements(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::scalar: return "nothing";
    case KernelIsa::avx2: return "avx2, fma and f16c";
    case KernelIsa::avx512: return "avx2, fma, f16c, avx512f, avx512bw, avx512vl and avx512vnni";
  }
  return "?";
}

const void* column_at(const ActivationColumns& columns, std::size_t c) {
  return static_cast<const std::byte*>(columns.data) + c * columns.column_bytes;
}

// Rows per block in dot_rows(): as many as fit in ~256 KiB, a share of a 1-2 MiB L2, so that each block of
// weight rows is read from memory once and then from L2 for every group of columns.
std::size_t rows_per_block(std::size_t row_bytes) {
  return std::max<std::size_t>(1, kRowBlockBytes / std::max<std::size_t>(row_bytes, 1));
}

}  // namespace

// ---- Activation formats ----

bool dot_supported(GgmlType weight_type) {
  return std::find(kDotWeightTypes.begin(), kDotWeightTypes.end(), weight_type) != kDotWeightTypes.end();
}

GgmlType activation_type_for(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: return GgmlType::f32;
    case GgmlType::q4_0: case GgmlType::q5_0: case GgmlType::q8_0: return GgmlType::q8_0;
    case GgmlType::q4_1: case GgmlType::q5_1: return GgmlType::q8_1;
    case GgmlType::q2_k: case GgmlType::q3_k: case GgmlType::q4_k: case GgmlType::q5_k: case GgmlType::q6_k:
      return GgmlType::q8_k;
    default: throw_unsupported("activation_type_for", weight_type);
  }
}

std::size_t activation_bytes(GgmlType activation_type, std::size_t n) {
  std::size_t block_bytes = 0;
  switch (activation_type) {
    case GgmlType::f32: block_bytes = sizeof(float); break;
    case GgmlType::q8_0: block_bytes = sizeof(BlockQ8_0); break;
    case GgmlType::q8_1: block_bytes = sizeof(BlockQ8_1); break;
    case GgmlType::q8_k: block_bytes = sizeof(BlockQ8_K); break;
    default: throw_unsupported("activation_bytes", activation_type);
  }
  check_whole_blocks("activation_bytes", activation_type, n);
  return n / block_elements(activation_type) * block_bytes;
}

void quantize_activations(const KernelTable& table, GgmlType activation_type, const float* x, void* out,
                          std::size_t n) {
  QuantizeActivationsFn quantize = nullptr;
  switch (activation_type) {
    case GgmlType::f32: break;
    case GgmlType::q8_0: quantize = table.quantize_q8_0; break;
    case GgmlType::q8_1: quantize = table.quantize_q8_1; break;
    case GgmlType::q8_k: quantize = table.quantize_q8_k; break;
    default: throw_unsupported("quantize_activations", activation_type);
  }
  check_whole_blocks("quantize_activations", activation_type, n);
  if (n == 0) return;  // the pointers may be null
  if (quantize == nullptr) std::memcpy(out, x, n * sizeof(float));  // F32: no quantization
  else quantize(x, out, n);
}

void quantize_activations(GgmlType activation_type, const float* x, void* out, std::size_t n) {
  quantize_activations(active_kernel_table(), activation_type, x, out, n);
}

// ---- Dot products ----

DotColumnsFn dot_kernel(const KernelTable& table, GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::f32: return table.dot_f32;
    case GgmlType::f16: return table.dot_f16;
    case GgmlType::bf16: return table.dot_bf16;
    case GgmlType::q4_0: return table.dot_q4_0;
    case GgmlType::q4_1: return table.dot_q4_1;
    case GgmlType::q5_0: return table.dot_q5_0;
    case GgmlType::q5_1: return table.dot_q5_1;
    case GgmlType::q8_0: return table.dot_q8_0;
    case GgmlType::q2_k: return table.dot_q2_k;
    case GgmlType::q3_k: return table.dot_q3_k;
    case GgmlType::q4_k: return table.dot_q4_k;
    case GgmlType::q5_k: return table.dot_q5_k;
    case GgmlType::q6_k: return table.dot_q6_k;
    default: throw_unsupported("dot", weight_type);
  }
}

bool has_own_dot_kernel(const KernelTable& table, GgmlType weight_type) {
  return dot_supported(weight_type) && (table.own_dot_kernels & type_bit(weight_type)) != 0;
}

float dot_row(const KernelTable& table, GgmlType weight_type, const void* weight_row, const void* activations,
              std::size_t n) {
  const DotColumnsFn kernel = dot_kernel(table, weight_type);
  check_whole_blocks("dot_row", weight_type, n);
  float out = 0.0f;
  kernel(weight_row, &activations, 1, &out, n);
  return out;
}

float dot_row(GgmlType weight_type, const void* weight_row, const void* activations, std::size_t n) {
  return dot_row(active_kernel_table(), weight_type, weight_row, activations, n);
}

void dot_rows(const KernelTable& table, const WeightRows& weights, const ActivationColumns& activations,
              OutputColumns out) {
  const DotColumnsFn kernel = dot_kernel(table, weights.type);
  check_whole_blocks("dot_rows", weights.type, weights.n);
  if (weights.type == GgmlType::q4_0 && table.rows_q4_0 != nullptr) {
    table.rows_q4_0(weights, activations, out);
    return;
  }
  const std::size_t block_rows = rows_per_block(weights.row_bytes);
  for (std::size_t first_row = 0; first_row < weights.n_rows; first_row += block_rows) {
    const std::size_t end_row = std::min(weights.n_rows, first_row + block_rows);
    // One group of columns stays in L1 while the block's rows (in L2) pass it.
    for (std::size_t c = 0; c < activations.n_cols; c += kMaxDotColumns) {
      const std::size_t n_cols = std::min(kMaxDotColumns, activations.n_cols - c);
      std::array<const void*, kMaxDotColumns> columns{};
      for (std::size_t k = 0; k < n_cols; ++k) columns[k] = column_at(activations, c + k);
      for (std::size_t r = first_row; r < end_row; ++r) {
        std::array<float, kMaxDotColumns> results{};
        kernel(static_cast<const std::byte*>(weights.data) + r * weights.row_bytes, columns.data(), n_cols,
               results.data(), weights.n);
        for (std::size_t k = 0; k < n_cols; ++k) out.data[(c + k) * out.column_stride + r] = results[k];
      }
    }
  }
}

void dot_rows(const WeightRows& weights, const ActivationColumns& activations, OutputColumns out) {
  dot_rows(active_kernel_table(), weights, activations, out);
}

// ---- Kernel tables and their choice ----

std::string_view kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::scalar: return "scalar";
    case KernelIsa::avx2: return "avx2";
    case KernelIsa::avx512: return "avx512";
  }
  return "unknown";
}

std::optional<KernelIsa> kernel_isa_from_name(std::string_view name) {
  for (KernelIsa isa : kAllIsas) {
    if (kernel_isa_name(isa) == name) return isa;
  }
  return std::nullopt;
}

KernelIsaChoice choose_kernel_isa(std::string_view requested, std::span<const KernelIsa> available) {
  const KernelIsa best = available.empty() ? KernelIsa::scalar : available.back();
  if (requested.empty()) return {best, ""};
  const std::optional<KernelIsa> asked = kernel_isa_from_name(requested);
  if (!asked) {
    return {best, "MODELGATE_KERNELS='" + std::string(requested) +
                      "' is not one of scalar, avx2, avx512; using " + std::string(kernel_isa_name(best))};
  }
  if (std::find(available.begin(), available.end(), *asked) == available.end()) {
    return {best, "MODELGATE_KERNELS=" + std::string(requested) + " needs a CPU with " + isa_requirements(*asked) +
                      ", which this one is not (or this build has no such kernels); using " +
                      std::string(kernel_isa_name(best))};
  }
  return {*asked, ""};
}

std::span<const KernelIsa> available_kernel_isas() { return tables().available; }

const KernelTable* kernel_table(KernelIsa isa) {
  const auto index = static_cast<std::size_t>(isa);
  if (index >= kAllIsas.size()) return nullptr;
  const std::optional<KernelTable>& table = tables().by_isa[index];
  return table ? &*table : nullptr;
}

KernelIsa kernel_isa_from_environment() {
  const char* requested = std::getenv("MODELGATE_KERNELS");
  const KernelIsaChoice choice = choose_kernel_isa(requested != nullptr ? requested : "", available_kernel_isas());
  if (!choice.warning.empty()) std::fprintf(stderr, "modelgate: %s\n", choice.warning.c_str());
  return choice.isa;
}

KernelIsa active_kernel_isa() {
  static const KernelIsa isa = kernel_isa_from_environment();
  return isa;
}

const KernelTable& active_kernel_table() {
  static const KernelTable& table = *kernel_table(active_kernel_isa());
  return table;
}

}  // namespace mg::engine
