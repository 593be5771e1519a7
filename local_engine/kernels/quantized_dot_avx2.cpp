// The AVX2 kernel table (with FMA and F16C): every weight format has its own 256-bit kernel, from
// quantized_dot_x86.inc with the int8 products done by maddubs. Compiled with -mavx2 -mfma -mf16c and
// reached only through kernel_table(), which first checks the CPU.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "local_engine/kernels/quant_blocks.h"
#include "local_engine/kernels/quantized_dot.h"

// The ISA is this file's own functions' (the pragma comes after every header), never a compile flag: a
// template or inline function a header defines, compiled here with the ISA, could be the copy the linker
// keeps for the whole program and then run on a CPU without it (a debug build on an AVX2-only CPU died
// of SIGILL in std::vector<float>::resize, from the model's attention).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace mg::engine {
namespace {

#include "local_engine/kernels/quantized_dot_x86.inc"
#include "local_engine/kernels/quantized_dot_x86_kquants.inc"

constexpr KernelTable kAvx2Table{
    .isa = KernelIsa::avx2,
    .dot_f32 = dot_columns<FloatKernel<F32Weights>>,
    .dot_f16 = dot_columns<FloatKernel<F16Weights>>,
    .dot_bf16 = dot_columns<FloatKernel<BF16Weights>>,
    .dot_q4_0 = dot_columns<LegacyKernel<MaddubsDot, Q4_0Format>>,
    .dot_q4_1 = dot_columns<LegacyKernel<MaddubsDot, Q4_1Format>>,
    .dot_q5_0 = dot_columns<LegacyKernel<MaddubsDot, Q5_0Format>>,
    .dot_q5_1 = dot_columns<LegacyKernel<MaddubsDot, Q5_1Format>>,
    .dot_q8_0 = dot_columns<LegacyKernel<MaddubsDot, Q8_0Format>>,
    .dot_q2_k = dot_columns<KQuantKernel<Q2KUnpacker>>,
    .dot_q3_k = dot_columns<KQuantKernel<Q3KUnpacker>>,
    .dot_q4_k = dot_columns<KQuantKernel<Q4KUnpacker>>,
    .dot_q5_k = dot_columns<KQuantKernel<Q5KUnpacker>>,
    .dot_q6_k = dot_columns<KQuantKernel<Q6KUnpacker>>,
    .quantize_q8_0 = quantize_q8_0,
    .quantize_q8_1 = quantize_q8_1,
    .quantize_q8_k = quantize_q8_k,
};

}  // namespace

const KernelTable& detail::avx2_kernel_table() { return kAvx2Table; }

}  // namespace mg::engine

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
