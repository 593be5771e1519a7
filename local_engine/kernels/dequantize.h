// Scalar reference conversions between float rows and GGUF's tensor formats. dequantize_row() is what the
// SIMD kernels are tested against and what the loader uses for tensors kept in float; quantize_row() is a
// plain per-block quantizer (absmax or min/max scales, no error-minimising search) for the synthetic-model
// writer, so tests can build a file in every format.
#pragma once

#include <cstddef>

#include "local_engine/kernels/ggml_type.h"

namespace mg::engine {

// Decodes `elements` elements of `type` from `blocks` (ggml's byte layout, any alignment) into `out`
// [elements]. Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
// Throws std::invalid_argument for another type or when `elements` is not a whole number of blocks.
void dequantize_row(GgmlType type, const void* blocks, float* out, std::size_t elements);

// Encodes `in` [elements] as `type` into `blocks` (ggml_bytes(type, elements) bytes, any alignment). Same
// types and errors as dequantize_row(). Inputs should be finite; blocks whose values exceed fp16's range
// get infinite scales, as in ggml.
void quantize_row(GgmlType type, const float* in, void* blocks, std::size_t elements);

// True for the types the two functions above accept.
bool row_conversion_supported(GgmlType type);

namespace detail {
// Number of blocks in `elements`; throws std::invalid_argument naming `operation` when the type is not
// supported or `elements` is not a whole number of blocks. Shared by the two conversions.
std::size_t checked_block_count(GgmlType type, std::size_t elements, const char* operation);
}  // namespace detail

}  // namespace mg::engine
