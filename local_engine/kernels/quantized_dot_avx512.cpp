// The AVX-512 kernel table (F, BW, VL and VNNI, on top of AVX2, FMA and F16C): every weight format has a
// 512-bit kernel. The 32-element formats take two blocks per register, four per step, and multiply with
// VNNI's dpbusd; the K-quants take 64 elements (a pair of quant chunks) per register and reuse the 256-bit
// unpackers' scales and sums; float weights take 16 per register, with a masked tail. Activation
// quantization is the 256-bit code. Reached only through kernel_table(), which first checks the CPU.

// GCC 12's AVX-512 intrinsics start some results from a deliberately uninitialised register, which its
// warnings then report at every inlined use (GCC bug 105593, fixed in 13); the pragma covers only them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "local_engine/kernels/quant_blocks.h"
#include "local_engine/kernels/quantized_dot.h"

namespace mg::engine {
namespace {

#include "local_engine/kernels/quantized_dot_x86.inc"
#include "local_engine/kernels/quantized_dot_x86_kquants.inc"

inline __m512i load512(const std::byte* p) { return _mm512_loadu_si512(p); }

// (Not _mm512_reduce_add_ps: GCC 12 warns on the undefined register its extract starts from.)
inline float hsum(__m512 v) {
  const __m512 high_half = _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2));
  return hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(high_half)));
}

// [low | high]: two 256-bit halves as one register.
inline __m512i join(__m256i low, __m256i high) { return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1); }

// ---- 32-element blocks, two per register ----

// Two blocks' quants as 64 bytes in element order, block b's 32 then block b + 1's; `second` null means
// none (zeros in its half).

// Two nibble blocks: their 16 bytes side by side, then the low and high nibbles of both, rearranged from
// [b, b + 1, b >> 4, (b + 1) >> 4] to [b, b >> 4, b + 1, (b + 1) >> 4].
inline __m512i pair_nibbles(const std::byte* first_qs, const std::byte* second_qs) {
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(first_qs)), load128(second_qs), 1);
  const __m512i halves = join(both, _mm256_srli_epi16(both, 4));
  return _mm512_and_si512(_mm512_shuffle_i64x2(halves, halves, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0f));
}

// Q5 fifth bits of both blocks as a byte mask, bit e for element e of the pair.
inline __mmask64 pair_fifth_bits(const std::byte* first_qh, const std::byte* second_qh) {
  std::uint32_t first;
  std::uint32_t second;
  std::memcpy(&first, first_qh, sizeof(first));
  std::memcpy(&second, second_qh, sizeof(second));
  return _cvtu64_mask64(first | (std::uint64_t{second} << 32));
}

inline __m512i keep_first_half_if_alone(__m512i pair, const std::byte* second) {
  return second != nullptr ? pair : _mm512_maskz_mov_epi64(0x0f, pair);
}

template <class Format>
__m512i pair_quants(const std::byte* first, const std::byte* second) {
  using Block = typename Format::Block;
  const std::byte* other = second != nullptr ? second : first;
  __m512i q;
  if constexpr (std::is_same_v<Format, Q8_0Format>) {
    q = join(Format::quants(first), Format::quants(other));
  } else {
    q = pair_nibbles(first + offsetof(Block, qs), other + offsetof(Block, qs));
    if constexpr (std::is_same_v<Format, Q4_0Format>) q = _mm512_sub_epi8(q, _mm512_set1_epi8(8));
    if constexpr (std::is_same_v<Format, Q5_0Format> || std::is_same_v<Format, Q5_1Format>) {
      const __mmask64 high = pair_fifth_bits(first + offsetof(Block, qh), other + offsetof(Block, qh));
      // Q5_1: q = nibble + 16 where the bit is set; Q5_0: q - 16 = nibble - 16 where it is not.
      if constexpr (std::is_same_v<Format, Q5_1Format>) q = _mm512_mask_add_epi8(q, high, q, _mm512_set1_epi8(16));
      else q = _mm512_mask_sub_epi8(q, _knot_mask64(high), q, _mm512_set1_epi8(16));
    }
  }
  return keep_first_half_if_alone(q, second);
}

// Four blocks at a time in two registers; signed quants meet dpbusd
// (unsigned by signed) through their magnitudes, with the activations negated where the weight is
// negative. Blocks past `count` are zero quants and zero activations, so they add nothing.
template <class Format>
struct LegacyKernel512 {
  using Block = typename Format::Block;
  using Activation = typename Format::Activation;
  template <std::size_t kCols>
  struct Accumulators {
    __m512 even[kCols];
    __m512 odd[kCols];
    __m128 min_terms[kCols];
  };

  // Blocks 2 pair and 2 pair + 1 of the four from `first`, of which `count` exist.
  static __m512i quants_of_pair(const std::byte* first, std::size_t pair, std::size_t count) {
    const std::byte* second = 2 * pair + 1 < count ? first + (2 * pair + 1) * sizeof(Block) : nullptr;
    return pair_quants<Format>(first + 2 * pair * sizeof(Block), second);
  }
  static __m256i activations_or_zero(const std::byte* first, std::size_t i, std::size_t count) {
    return i < count ? load256(first + i * sizeof(Activation) + offsetof(Activation, qs)) : _mm256_setzero_si256();
  }

  // Blocks b .. b + count - 1 (count 1..4) against every column: blocks b, b + 1 in the even
  // accumulator, b + 2, b + 3 in the odd one.
  template <std::size_t kCols>
  static void add_blocks(const std::byte* w, const std::byte* const* cols, std::size_t b, std::size_t count,
                         Accumulators<kCols>& acc) {
    const std::byte* first = w + b * sizeof(Block);
    __m512i magnitude[2];
    __mmask64 negative[2];
    for (std::size_t pair = 0; pair < 2 && 2 * pair < count; ++pair) {
      const __m512i q = quants_of_pair(first, pair, count);
      magnitude[pair] = Format::kSigned ? _mm512_abs_epi8(q) : q;
      negative[pair] = _mm512_movepi8_mask(q);
    }
    const __m128 weight_d = four_halves(first + offsetof(Block, d), sizeof(Block), count);
    // Lanes 0-7 take the pair's first block's scale, lanes 8-15 its second's.
    const __m512i spread[2] = {_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                               _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)};
    for (std::size_t c = 0; c < kCols; ++c) {
      const std::byte* a = cols[c] + b * sizeof(Activation);
      const __m128 activation_d = four_halves(a + offsetof(Activation, d), sizeof(Activation), count);
      const __m512 scales = _mm512_castps128_ps512(_mm_mul_ps(weight_d, activation_d));
      for (std::size_t pair = 0; pair < 2 && 2 * pair < count; ++pair) {
        __m512i y = join(activations_or_zero(a, 2 * pair, count), activations_or_zero(a, 2 * pair + 1, count));
        if constexpr (Format::kSigned) y = _mm512_mask_sub_epi8(y, negative[pair], _mm512_setzero_si512(), y);
        const __m512 products = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), magnitude[pair], y));
        __m512& sum = pair == 0 ? acc.even[c] : acc.odd[c];
        sum = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread[pair], scales), products, sum);
      }
      if constexpr (!Format::kSigned) add_min_terms<Format>(first, a, count, acc.min_terms[c]);
    }
  }

  template <std::size_t kCols>
  static void run(const std::byte* w, const std::byte* const* cols, float* out, std::size_t n) {
    const std::size_t n_blocks = n / QK_LEGACY;
    Accumulators<kCols> acc;
    for (std::size_t c = 0; c < kCols; ++c) {
      acc.even[c] = acc.odd[c] = _mm512_setzero_ps();
      acc.min_terms[c] = _mm_setzero_ps();
    }
    std::size_t b = 0;
    for (; b + 4 <= n_blocks; b += 4) add_blocks(w, cols, b, 4, acc);
    if (b < n_blocks) add_blocks(w, cols, b, n_blocks - b, acc);
    for (std::size_t c = 0; c < kCols; ++c) {
      out[c] = hsum(_mm512_add_ps(acc.even[c], acc.odd[c])) + hsum(acc.min_terms[c]);
    }
  }
};

// ---- Float weights, 16 per register ----

struct F32Weights512 {
  static constexpr std::size_t kBytes = 4;
  static __m512 load16(const std::byte* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct F16Weights512 {
  static constexpr std::size_t kBytes = 2;
  static __m512 load16(const std::byte* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};
struct BF16Weights512 {
  static constexpr std::size_t kBytes = 2;
  static __m512 load16(const std::byte* p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
  }
};

// Four accumulators per column over 64 elements a step (FMA latency, not loads, bounds a single
// column), then 16 at a time into the first, then a masked tail.
template <class Weights>
struct FloatKernel512 {
  static constexpr std::size_t kAccumulators = 4;

  template <std::size_t kCols>
  static void run(const std::byte* w, const std::byte* const* cols, float* out, std::size_t n) {
    constexpr __mmask16 kAll = 0xffff;
    __m512 acc[kAccumulators][kCols];
    for (auto& row : acc) {
      for (__m512& a : row) a = _mm512_setzero_ps();
    }
    std::size_t i = 0;
    for (; i + 16 * kAccumulators <= n; i += 16 * kAccumulators) {
      for (std::size_t k = 0; k < kAccumulators; ++k) {
        const std::size_t at = i + 16 * k;
        const __m512 weights = Weights::load16(w + at * Weights::kBytes, kAll);
        for (std::size_t c = 0; c < kCols; ++c) {
          acc[k][c] = _mm512_fmadd_ps(weights, _mm512_loadu_ps(cols[c] + at * 4), acc[k][c]);
        }
      }
    }
    for (; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? kAll : static_cast<__mmask16>((1u << (n - i)) - 1);
      const __m512 weights = Weights::load16(w + i * Weights::kBytes, m);
      for (std::size_t c = 0; c < kCols; ++c) {
        acc[0][c] = _mm512_fmadd_ps(weights, _mm512_maskz_loadu_ps(m, cols[c] + i * 4), acc[0][c]);
      }
    }
    for (std::size_t c = 0; c < kCols; ++c) {
      out[c] = hsum(_mm512_add_ps(_mm512_add_ps(acc[0][c], acc[1][c]), _mm512_add_ps(acc[2][c], acc[3][c])));
    }
  }
};

// ---- K-quant super-blocks, 64 elements per register ----
//
// Each 512-bit unpacker gives four chunks of 64 unsigned quants with int16 scales per 128-bit lane (16
// elements each), and hands its integer sums, folded to 256 bits, to the 256-bit unpacker's finish().

inline __m512i broadcast_bytes512(__m128i bytes) { return _mm512_broadcast_i32x4(bytes); }

// int16 lanes holding scale byte s[i] (sign-extended) in 128-bit lane i.
inline __m512i int16_scales512(__m512i scale_bytes, int s0, int s1, int s2, int s3) {
  const auto repeated = [](int s) { return static_cast<int>(0x01010101u * static_cast<std::uint32_t>(s)); };
  const __m512i pick = _mm512_setr_epi32(repeated(s0), repeated(s0), repeated(s0), repeated(s0), repeated(s1),
                                         repeated(s1), repeated(s1), repeated(s1), repeated(s2), repeated(s2),
                                         repeated(s2), repeated(s2), repeated(s3), repeated(s3), repeated(s3),
                                         repeated(s3));
  return _mm512_srai_epi16(_mm512_shuffle_epi8(scale_bytes, pick), 8);
}

inline __m512i bits_at512(__m512i bytes, int shift, int mask) {
  return _mm512_and_si512(_mm512_srl_epi16(bytes, _mm_cvtsi32_si128(shift)), _mm512_set1_epi8(static_cast<char>(mask)));
}

inline __m256i fold(__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); }

// Q4_K / Q5_K: chunk j holds sub-blocks 2j (the low nibbles of qs bytes 32j..32j+31) and 2j + 1 (their
// high nibbles), which is elements 64j..64j+63 in order.
inline __m512i k4_nibbles512(const std::byte* qs, int j) {
  const __m256i packed = load256(qs + 32 * j);
  return _mm512_and_si512(join(packed, _mm256_srli_epi16(packed, 4)), _mm512_set1_epi8(0x0f));
}
inline __m512i k4_scales512(const K4Common& common, int j) {
  const __m512i scale_bytes = broadcast_bytes512(_mm256_castsi256_si128(common.scale_bytes));
  return int16_scales512(scale_bytes, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1);
}

struct Q4KUnpacker512 {
  using Block = BlockQ4_K;
  Q4KUnpacker base;
  explicit Q4KUnpacker512(const std::byte* b) : base(b) {}
  __m512i quants(int j) const { return k4_nibbles512(base.common.qs, j); }
  __m512i scales(int j) const { return k4_scales512(base.common, j); }
};

// The fifth bits of sub-blocks 2j and 2j + 1: bits 2j and 2j + 1 of the qh bytes.
struct Q5KUnpacker512 {
  using Block = BlockQ5_K;
  Q5KUnpacker base;
  __m512i qh_pairs;  // [qh | qh >> 1]: chunk j's bits at bit 2j of both halves
  explicit Q5KUnpacker512(const std::byte* b) : base(b), qh_pairs(join(base.qh, _mm256_srli_epi16(base.qh, 1))) {}
  __m512i quants(int j) const {
    return _mm512_or_si512(k4_nibbles512(base.common.qs, j), _mm512_slli_epi16(bits_at512(qh_pairs, 2 * j, 1), 4));
  }
  __m512i scales(int j) const { return k4_scales512(base.common, j); }
};

// Q6_K: chunk j = 2h + p is elements 128h + 64p ...: nibble p of ql bytes 64h..64h+63, and bit pairs 2p
// (first 32) and 2p + 1 (last 32) of qh bytes 32h.
struct Q6KUnpacker512 {
  using Block = BlockQ6_K;
  Q6KUnpacker base;
  explicit Q6KUnpacker512(const std::byte* b) : base(b) {}
  __m512i quants(int j) const {
    const int h = j / 2;
    const int p = j % 2;
    const __m512i low = bits_at512(load512(base.ql + 64 * h), 4 * p, 0x0f);
    const __m256i qh = load256(base.qh + 32 * h);
    const __m512i high = bits_at512(join(qh, _mm256_srli_epi16(qh, 2)), 4 * p, 0x03);
    return _mm512_or_si512(low, _mm512_slli_epi16(high, 4));
  }
  __m512i scales(int j) const {
    return int16_scales512(broadcast_bytes512(base.scale_bytes), 4 * j, 4 * j + 1, 4 * j + 2, 4 * j + 3);
  }
};

// Q3_K: chunk j = 2h + p: bit pairs 2p and 2p + 1 of qs bytes 32h, and hmask bits 2j and 2j + 1.
struct Q3KUnpacker512 {
  using Block = BlockQ3_K;
  Q3KUnpacker base;
  __m512i hmask_pairs;  // [hmask | hmask >> 1]
  explicit Q3KUnpacker512(const std::byte* b)
      : base(b), hmask_pairs(join(base.hmask, _mm256_srli_epi16(base.hmask, 1))) {}
  __m512i quants(int j) const {
    const __m256i qs = load256(base.qs + 32 * (j / 2));
    const __m512i low = bits_at512(join(qs, _mm256_srli_epi16(qs, 2)), 4 * (j % 2), 0x03);
    return _mm512_or_si512(low, _mm512_slli_epi16(bits_at512(hmask_pairs, 2 * j, 1), 2));
  }
  __m512i scales(int j) const {
    return int16_scales512(broadcast_bytes512(base.scale_bytes), 4 * j, 4 * j + 1, 4 * j + 2, 4 * j + 3);
  }
};

// Q2_K: chunk j = 2h + p: bit pairs 2p and 2p + 1 of qs bytes 32h.
struct Q2KUnpacker512 {
  using Block = BlockQ2_K;
  Q2KUnpacker base;
  explicit Q2KUnpacker512(const std::byte* b) : base(b) {}
  __m512i quants(int j) const {
    const __m256i qs = load256(base.qs + 32 * (j / 2));
    return bits_at512(join(qs, _mm256_srli_epi16(qs, 2)), 4 * (j % 2), 0x03);
  }
  __m512i scales(int j) const {
    return int16_scales512(broadcast_bytes512(base.scale_bytes), 4 * j, 4 * j + 1, 4 * j + 2, 4 * j + 3);
  }
};

// As KQuantKernel, 64 elements a step: maddubs pairs (at most 2 * 63 * 127), madd by the scales.
template <class Unpacker>
struct KQuantKernel512 {
  template <std::size_t kCols>
  static void run(const std::byte* w, const std::byte* const* cols, float* out, std::size_t n) {
    __m256 acc[kCols];
    for (std::size_t c = 0; c < kCols; ++c) acc[c] = _mm256_setzero_ps();
    for (std::size_t b = 0; b < n / QK_K; ++b) {
      const Unpacker block(w + b * sizeof(typename Unpacker::Block));
      const std::byte* activations[kCols];
      __m512i sums[kCols];
      for (std::size_t c = 0; c < kCols; ++c) {
        activations[c] = cols[c] + b * sizeof(BlockQ8_K);
        sums[c] = _mm512_setzero_si512();
      }
      for (int j = 0; j < 4; ++j) {
        const __m512i q = block.quants(j);
        const __m512i scales = block.scales(j);
        for (std::size_t c = 0; c < kCols; ++c) {
          const __m512i y = load512(activations[c] + offsetof(BlockQ8_K, qs) + 64 * j);
          sums[c] = _mm512_add_epi32(sums[c], _mm512_madd_epi16(_mm512_maddubs_epi16(q, y), scales));
        }
      }
      for (std::size_t c = 0; c < kCols; ++c) acc[c] = block.base.finish(acc[c], fold(sums[c]), activations[c]);
    }
    for (std::size_t c = 0; c < kCols; ++c) out[c] = hsum(acc[c]);
  }
};

constexpr KernelTable kAvx512Table{
    .isa = KernelIsa::avx512,
    .dot_f32 = dot_columns<FloatKernel512<F32Weights512>>,
    .dot_f16 = dot_columns<FloatKernel512<F16Weights512>>,
    .dot_bf16 = dot_columns<FloatKernel512<BF16Weights512>>,
    .dot_q4_0 = dot_columns<LegacyKernel512<Q4_0Format>>,
    .dot_q4_1 = dot_columns<LegacyKernel512<Q4_1Format>>,
    .dot_q5_0 = dot_columns<LegacyKernel512<Q5_0Format>>,
    .dot_q5_1 = dot_columns<LegacyKernel512<Q5_1Format>>,
    .dot_q8_0 = dot_columns<LegacyKernel512<Q8_0Format>>,
    .dot_q2_k = dot_columns<KQuantKernel512<Q2KUnpacker512>>,
    .dot_q3_k = dot_columns<KQuantKernel512<Q3KUnpacker512>>,
    .dot_q4_k = dot_columns<KQuantKernel512<Q4KUnpacker512>>,
    .dot_q5_k = dot_columns<KQuantKernel512<Q5KUnpacker512>>,
    .dot_q6_k = dot_columns<KQuantKernel512<Q6KUnpacker512>>,
    .quantize_q8_0 = quantize_q8_0,
    .quantize_q8_1 = quantize_q8_1,
    .quantize_q8_k = quantize_q8_k,
};

}  // namespace

const KernelTable& detail::avx512_kernel_table() { return kAvx512Table; }

}  // namespace mg::engine
