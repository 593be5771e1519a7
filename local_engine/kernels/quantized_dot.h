// Dot products of quantized weight rows with activations, the hot loop of y = W x. As llama.cpp does on the
// CPU, the activations are quantized on the fly (Q8_0, Q8_1 or Q8_K, by weight format) and each block's
// dot product is an integer sum of products, scaled by the two blocks' scales; F32, F16 and BF16 weights
// meet float activations.
//
// The kernels live in one translation unit per instruction set (quantized_dot_scalar.cpp, _avx2.cpp,
// _avx512.cpp) behind a KernelTable; the table is chosen once, at first use, from the CPU, and
// MODELGATE_KERNELS=scalar|avx2|avx512 overrides the choice. The scalar table is the reference the SIMD
// tables are tested against.
//
// Preconditions shared by every function here: `n` (elements per row or column) is a whole number of the
// weight type's blocks; buffers need no particular alignment. A weight type without kernels, or an `n`
// that is not whole blocks, throws std::invalid_argument (the loader checks both at load time, so this
// only fires on a programming error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "local_engine/kernels/ggml_type.h"

namespace mg::engine {

// ---- Activation formats ----

// The format activations are quantized to before meeting weights of `weight_type`, as llama.cpp pairs
// them: Q8_0 for Q4_0, Q5_0 and Q8_0; Q8_1 for Q4_1 and Q5_1; Q8_K for Q2_K..Q6_K; F32 (no quantization)
// for F32, F16 and BF16. Throws std::invalid_argument for a type without kernels.
GgmlType activation_type_for(GgmlType weight_type);

// True for the weight types activation_type_for() and the dot products accept.
bool dot_supported(GgmlType weight_type);

// Bytes of `n` activations in `activation_type` (F32, Q8_0, Q8_1 or Q8_K).
std::size_t activation_bytes(GgmlType activation_type, std::size_t n);

// Quantizes x [n] into out [activation_bytes(activation_type, n)] with the active table. Each block gets
// d = max|x| / 127 and q = x / d rounded to nearest, ties to even (so |q| <= 127); Q8_1 adds
// s = d * sum(q), Q8_K the sum of each 16 quants. For F32 it is a copy.
void quantize_activations(GgmlType activation_type, const float* x, void* out, std::size_t n);

// ---- Dot products ----

// The dot product of one weight row [n] (ggml's layout) with activations [n] already in
// activation_type_for(weight_type), through the active table.
float dot_row(GgmlType weight_type, const void* weight_row, const void* activations, std::size_t n);

// A weight matrix W [n_rows, n]: row r starts at data + r * row_bytes.
struct WeightRows {
  GgmlType type = GgmlType::f32;
  const void* data = nullptr;
  std::size_t row_bytes = 0;
  std::size_t n_rows = 0;
  std::size_t n = 0;  // elements per row
};

// Activation columns X [n_cols, n], each quantized with quantize_activations(activation_type_for(W.type)):
// column c starts at data + c * column_bytes.
struct ActivationColumns {
  const void* data = nullptr;
  std::size_t column_bytes = 0;
  std::size_t n_cols = 0;
};

// The product Y = W X [n_cols, n_rows]: the n_rows outputs of column c start at data + c * column_stride.
struct OutputColumns {
  float* data = nullptr;
  std::size_t column_stride = 0;  // floats
};

// Y = W X for prompt processing (several tokens at once); with one column, y = W x for generation. Every
// output equals what dot_row() gives for that row and column, bit for bit, except where the table has a
// whole-product kernel for the type (KernelTable::rows_*) and there are kMinTileColumns columns or more:
// then they agree up to float rounding. The kernels take one weight
// row against up to kMaxDotColumns columns, so each weight block is loaded and unpacked once for that many
// columns (unpacking is what costs; more rows per call would only share activation loads, and would not
// leave AVX2 registers for the K-quants). Rows go in blocks that fit in L2, each block meeting every group
// of columns before the next: W is read from memory once, and a group of columns stays in L1 while a
// block's rows pass it.
void dot_rows(const WeightRows& weights, const ActivationColumns& activations, OutputColumns out);

// ---- Kernel tables and their choice ----

enum class KernelIsa { scalar, avx2, avx512 };
inline constexpr std::size_t kMaxDotColumns = 4;
inline constexpr std::size_t kMinTileColumns = 4;
// The weight rows dot_rows() takes at a time, so that they stay in L2 while every group of columns
// passes them: ~256 KiB, a share of a 1-2 MiB L2.
inline constexpr std::size_t kRowBlockBytes = 256 * 1024;

// out[c] = dot(weight_row [n], columns[c] [n]) for c < n_cols (1..kMaxDotColumns). Each column's result
// is computed in the same order whatever n_cols is, so it is the same number for every n_cols.
using DotColumnsFn = void (*)(const void* weight_row, const void* const* columns, std::size_t n_cols, float* out,
                              std::size_t n);
// The whole product Y = W X, for a type whose kernel works on a tile of rows rather than one row.
using DotRowsFn = void (*)(const WeightRows& weights, const ActivationColumns& activations, OutputColumns out);
// x [n] into n / block_elements activation blocks (out needs no alignment).
using QuantizeActivationsFn = void (*)(const float* x, void* out, std::size_t n);

// One instruction set's kernels. The tables kernel_table() returns have every entry set: where an ISA has
// no version of its own, the entry is the scalar kernel, and own_dot_kernels says which are its own.
struct KernelTable {
  KernelIsa isa = KernelIsa::scalar;
  DotColumnsFn dot_f32 = nullptr, dot_f16 = nullptr, dot_bf16 = nullptr;
  DotColumnsFn dot_q4_0 = nullptr, dot_q4_1 = nullptr, dot_q5_0 = nullptr, dot_q5_1 = nullptr, dot_q8_0 = nullptr;
  DotColumnsFn dot_q2_k = nullptr, dot_q3_k = nullptr, dot_q4_k = nullptr, dot_q5_k = nullptr, dot_q6_k = nullptr;
  QuantizeActivationsFn quantize_q8_0 = nullptr, quantize_q8_1 = nullptr, quantize_q8_k = nullptr;
  std::uint64_t own_dot_kernels = 0;  // bit (ggml type id) set where the dot kernel is this ISA's own
  // Optional whole-product kernels for prompt processing, which dot_rows() uses from kMinTileColumns
  // columns on (nullptr: it walks the row kernel). Their outputs are the row kernel's up to float rounding
  // (another summation order), and do not depend on which rows and columns share a call.
  DotRowsFn rows_q4_0 = nullptr;
};

// The table's dot kernel for `weight_type`; throws std::invalid_argument for a type without kernels.
DotColumnsFn dot_kernel(const KernelTable& table, GgmlType weight_type);
// True when `table`'s kernel for `weight_type` is its own rather than the scalar fallback.
bool has_own_dot_kernel(const KernelTable& table, GgmlType weight_type);

// The table for `isa`, or nullptr when this build or this CPU lacks it. Tests and benchmarks use it to
// run a chosen ISA; everything else goes through the active table.
const KernelTable* kernel_table(KernelIsa isa);

// The table chosen at first use (logs once to stderr when MODELGATE_KERNELS cannot be honoured).
const KernelTable& active_kernel_table();
KernelIsa active_kernel_isa();

std::string_view kernel_isa_name(KernelIsa isa);  // "scalar", "avx2", "avx512"
std::optional<KernelIsa> kernel_isa_from_name(std::string_view name);

// The choice itself, kept pure for tests: `requested` is MODELGATE_KERNELS's value (empty when unset),
// `available` the ISAs this CPU runs, best last. The best available when nothing is requested; the
// requested one when available; otherwise the best available with a warning that says what was asked,
// why it cannot be, and what runs instead.
struct KernelIsaChoice {
  KernelIsa isa = KernelIsa::scalar;
  std::string warning;  // empty when the request (or its absence) was honoured
};
KernelIsaChoice choose_kernel_isa(std::string_view requested, std::span<const KernelIsa> available);

// The ISAs this build and CPU can run, scalar first and best last.
std::span<const KernelIsa> available_kernel_isas();

// The choice from the environment as it is now (active_kernel_isa() calls this once): writes the
// warning, if any, to stderr.
KernelIsa kernel_isa_from_environment();

// The functions above with an explicit table, for tests and benchmarks.
void quantize_activations(const KernelTable& table, GgmlType activation_type, const float* x, void* out,
                          std::size_t n);
float dot_row(const KernelTable& table, GgmlType weight_type, const void* weight_row, const void* activations,
              std::size_t n);
void dot_rows(const KernelTable& table, const WeightRows& weights, const ActivationColumns& activations,
              OutputColumns out);

// Per-ISA tables as their translation units define them (the SIMD ones only on x86), with nullptr where
// the ISA has no kernel of its own. Call kernel_table() instead: these do not check the CPU.
namespace detail {
const KernelTable& scalar_kernel_table();
const KernelTable& avx2_kernel_table();
const KernelTable& avx512_kernel_table();
}  // namespace detail

}  // namespace mg::engine
