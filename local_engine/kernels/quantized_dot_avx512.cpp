// The AVX-512 kernel table (F, BW, VL and VNNI, on top of AVX2, FMA and F16C): every weight format has a
// 512-bit kernel. Q4_0 has its own: tiles of 16 rows for prompts, an activation layout matched to its
// blocks for generation. The other 32-element formats take two blocks per register, four per step, and
// multiply with VNNI's dpbusd; the K-quants take 64 elements (a pair of quant chunks) per register and reuse the 256-bit
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
#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "local_engine/kernels/quant_blocks.h"
#include "local_engine/kernels/quantized_dot.h"

// The ISA is this file's own functions' (the pragma comes after every header), never a compile flag: a
// template or inline function a header defines, compiled here with the ISA, could be the copy the linker
// keeps for the whole program and then run on a CPU without it (a debug build on an AVX2-only CPU died
// of SIGILL in std::vector<float>::resize, from the model's attention).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
#endif

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
    prefetch_ahead(first, count * sizeof(Block));
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

// ---- Q4_0 in tiles of 16 rows ----
//
// The pair kernel above spends a conversion and an fma on every 64 products, because each 32-element
// block has its own scale. Here a register lane is a weight row instead: lane i of quants[k] holds
// elements 4k..4k+3 of row i's block, so eight dpbusd against a column's activations (4 at a time,
// broadcast) give 16 rows' whole block products, scaled with one conversion and one fma. The price, a
// transpose of the 16 rows' quants, is paid once per block for up to 8 columns. Nibbles enter dpbusd
// unsigned (0..15); the offset of 8 comes off as 8 * sum(activation quants), precomputed per column
// block. Each lane computes its row exactly as it would alone, so the results do not depend on which
// rows or columns share a call. (Fewer columns, token generation, go row by row below: sixteen rows read
// side by side are sixteen memory streams, and generation is all memory traffic.)

constexpr std::size_t kTileRows = 16;
constexpr std::size_t kTileColumns = 8;

struct Q4_0Tile {
  __m512i quants[8];  // [k] lane i: row i's elements 4k..4k+3, one byte each
  __m512 d;           // lane i: row i's scale
};

// Block b of the 16 rows at rows[i] (row_offsets[i] = rows[i] - rows[0], for the scales' gather).
inline Q4_0Tile load_q4_0_tile(const std::byte* const* rows, __m512i row_offsets, std::size_t b) {
  const std::size_t at = b * sizeof(BlockQ4_0);
  const auto qs = [&](std::size_t row) { return load128(rows[row] + at + offsetof(BlockQ4_0, qs)); };
  // by_lane[m]: 128-bit lane g holds row 4g + m's 16 bytes (4 dwords).
  __m512i by_lane[4];
  for (std::size_t m = 0; m < 4; ++m) {
    __m512i v = _mm512_castsi128_si512(qs(m));
    v = _mm512_inserti32x4(v, qs(4 + m), 1);
    v = _mm512_inserti32x4(v, qs(8 + m), 2);
    by_lane[m] = _mm512_inserti32x4(v, qs(12 + m), 3);
  }
  // A 4x4 dword transpose within each 128-bit lane: dword k of rows 4g..4g+3 side by side.
  const __m512i rows01_low = _mm512_unpacklo_epi32(by_lane[0], by_lane[1]);
  const __m512i rows01_high = _mm512_unpackhi_epi32(by_lane[0], by_lane[1]);
  const __m512i rows23_low = _mm512_unpacklo_epi32(by_lane[2], by_lane[3]);
  const __m512i rows23_high = _mm512_unpackhi_epi32(by_lane[2], by_lane[3]);
  const __m512i dwords[4] = {_mm512_unpacklo_epi64(rows01_low, rows23_low), _mm512_unpackhi_epi64(rows01_low, rows23_low),
                             _mm512_unpacklo_epi64(rows01_high, rows23_high), _mm512_unpackhi_epi64(rows01_high, rows23_high)};
  Q4_0Tile tile;
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  for (std::size_t k = 0; k < 4; ++k) {
    tile.quants[k] = _mm512_and_si512(dwords[k], nibble);                             // elements 4k..4k+3
    tile.quants[k + 4] = _mm512_and_si512(_mm512_srli_epi16(dwords[k], 4), nibble);  // elements 16 + 4k..
  }
  const __m512i first_dwords = _mm512_i32gather_epi32(row_offsets, rows[0] + at + offsetof(BlockQ4_0, d), 1);
  tile.d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(first_dwords));
  return tile;
}

// 8 * the sum of a Q8_0 block's 32 quants: maddubs by 1 pairs them into 16-bit sums, madd by 1 into 32-bit.
inline std::int32_t eight_times_quant_sum(__m256i quants) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), quants);
  return 8 * hsum(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Per column and block: the activation scale, and 8 * the sum of its quants.
struct ColumnBlockTerms {
  std::vector<float> d;
  std::vector<std::int32_t> offset;
};

void compute_column_terms(const std::byte* const* cols, std::size_t n_cols, std::size_t n_blocks, ColumnBlockTerms& terms) {
  terms.d.resize(n_cols * n_blocks);
  terms.offset.resize(n_cols * n_blocks);
  for (std::size_t c = 0; c < n_cols; ++c) {
    for (std::size_t b = 0; b < n_blocks; ++b) {
      const std::byte* block = cols[c] + b * sizeof(BlockQ8_0);
      std::uint16_t d;
      std::memcpy(&d, block + offsetof(BlockQ8_0, d), sizeof(d));
      terms.d[c * n_blocks + b] = _cvtsh_ss(d);
      terms.offset[c * n_blocks + b] = eight_times_quant_sum(load256(block + offsetof(BlockQ8_0, qs)));
    }
  }
}

// The 16 rows of one tile against kCols columns, over all blocks; writes the valid lanes of each
// column's 16 outputs.
template <std::size_t kCols>
void q4_0_tile_columns(const std::byte* const* rows, __m512i row_offsets, __mmask16 valid, const std::byte* const* cols,
                       const float* column_d, const std::int32_t* column_offset, std::size_t n_blocks, float* const* out) {
  __m512 acc[kCols];
  for (std::size_t c = 0; c < kCols; ++c) acc[c] = _mm512_setzero_ps();
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const Q4_0Tile tile = load_q4_0_tile(rows, row_offsets, b);
    for (std::size_t c = 0; c < kCols; ++c) {
      const std::byte* a = cols[c] + b * sizeof(BlockQ8_0) + offsetof(BlockQ8_0, qs);
      __m512i dot = _mm512_setzero_si512();
      for (std::size_t k = 0; k < 8; ++k) {
        std::int32_t four;
        std::memcpy(&four, a + 4 * k, sizeof(four));
        dot = _mm512_dpbusd_epi32(dot, tile.quants[k], _mm512_set1_epi32(four));
      }
      dot = _mm512_sub_epi32(dot, _mm512_set1_epi32(column_offset[c * n_blocks + b]));
      const __m512 scale = _mm512_mul_ps(tile.d, _mm512_set1_ps(column_d[c * n_blocks + b]));
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[c]);
    }
  }
  for (std::size_t c = 0; c < kCols; ++c) _mm512_mask_storeu_ps(out[c], valid, acc[c]);
}

template <std::size_t... kCols>
constexpr auto make_tile_kernels(std::index_sequence<kCols...>) {
  return std::array{&q4_0_tile_columns<kCols + 1>...};
}
constexpr auto kQ4_0TileKernels = make_tile_kernels(std::make_index_sequence<kTileColumns>{});

// ---- Q4_0 against one to three columns (token generation) ----
//
// Generation reads every weight once per token, so the kernel must keep up with memory while doing as
// little as possible per byte. The activations, a few KiB read by every row, are rearranged once per
// call into groups of four blocks that line up with the weights as they sit in memory: 72 bytes of
// weights (four blocks) are two loads, one word permute that packs the four blocks' quants, and two
// nibble masks; two dpbusd then leave each block's partial sums in 4 lanes. The scales come from the
// same loads, and the offset of 8 is a precomputed per-block term.

// One activation column, four blocks (128 elements) at a time.
struct alignas(64) Q4_0ActivationGroup {
  std::int8_t low[64];   // block j's quants 0-15 at 16j: they meet the weights' low nibbles
  std::int8_t high[64];  // block j's quants 16-31 at 16j: they meet the high nibbles
  float d[16];           // lanes 4j..4j+3: block j's scale
  float offset[16];      // lanes 4j..4j+3: a quarter of 8 * sum(quants) * scale, the offset's share
};

void prepare_q4_0_column(const std::byte* column, std::size_t n_blocks, Q4_0ActivationGroup* groups) {
  for (std::size_t g = 0; g < (n_blocks + 3) / 4; ++g) {
    Q4_0ActivationGroup& group = groups[g];
    if (4 * g + 4 > n_blocks) std::memset(&group, 0, sizeof(group));  // blocks past the end add nothing
    for (std::size_t j = 0; j < 4 && 4 * g + j < n_blocks; ++j) {
      const std::byte* block = column + (4 * g + j) * sizeof(BlockQ8_0);
      const __m256i quants = load256(block + offsetof(BlockQ8_0, qs));
      _mm_store_si128(reinterpret_cast<__m128i*>(group.low + 16 * j), _mm256_castsi256_si128(quants));
      _mm_store_si128(reinterpret_cast<__m128i*>(group.high + 16 * j), _mm256_extracti128_si256(quants, 1));
      std::uint16_t half;
      std::memcpy(&half, block + offsetof(BlockQ8_0, d), sizeof(half));
      const float d = _cvtsh_ss(half);
      _mm_store_ps(group.d + 4 * j, _mm_set1_ps(d));
      _mm_store_ps(group.offset + 4 * j, _mm_set1_ps(static_cast<float>(eight_times_quant_sum(quants) / 4) * d));
    }
  }
}

// Word indices (into the 72 bytes of four blocks) of each block's 8 words of quants, block j at 16-bit
// word 9j + 1; and of the scales, block j's (word 9j) repeated over lanes 4j..4j+3. (Arrays, not
// __m512i constants: those would be built with AVX-512 at start-up, on every CPU.)
alignas(64) constexpr std::uint16_t kQ4_0QuantWords[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,
                                                           19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35};
alignas(64) constexpr std::uint16_t kQ4_0ScaleWords[32] = {0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27};

// Group g (four blocks) of one row against every column, added to acc. Each column's term is computed
// apart from acc, so the only chain through acc is one addition per group.
template <std::size_t kCols>
inline void add_q4_0_group(const std::byte* row, const Q4_0ActivationGroup* const* cols, std::size_t n_blocks, std::size_t g,
                           __m512* acc) {
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  const std::size_t bytes = std::min<std::size_t>(4, n_blocks - 4 * g) * sizeof(BlockQ4_0);
  const std::byte* at = row + g * 4 * sizeof(BlockQ4_0);
  prefetch_ahead(at, bytes);
  const __m512i first = _mm512_maskz_loadu_epi8(bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1, at);
  const __m512i rest = _mm512_maskz_loadu_epi8(bytes > 64 ? (__mmask64{1} << (bytes - 64)) - 1 : 0, at + 64);
  const __m512i quants = _mm512_permutex2var_epi16(first, _mm512_load_si512(kQ4_0QuantWords), rest);
  const __m512i low = _mm512_and_si512(quants, nibble);
  const __m512i high = _mm512_and_si512(_mm512_srli_epi16(quants, 4), nibble);
  const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_load_si512(kQ4_0ScaleWords), first)));
  for (std::size_t c = 0; c < kCols; ++c) {
    const Q4_0ActivationGroup& a = cols[c][g];
    __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), low, _mm512_load_si512(a.low));
    dot = _mm512_dpbusd_epi32(dot, high, _mm512_load_si512(a.high));
    const __m512 term = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, _mm512_load_ps(a.d)), _mm512_mul_ps(d, _mm512_load_ps(a.offset)));
    acc[c] = _mm512_add_ps(acc[c], term);
  }
}

// Even and odd groups go to two accumulators, so consecutive groups do not wait on each other.
template <std::size_t kCols>
void q4_0_row_columns(const std::byte* row, const Q4_0ActivationGroup* const* cols, std::size_t n_blocks, float* out) {
  __m512 even[kCols];
  __m512 odd[kCols];
  for (std::size_t c = 0; c < kCols; ++c) even[c] = odd[c] = _mm512_setzero_ps();
  const std::size_t n_groups = (n_blocks + 3) / 4;
  std::size_t g = 0;
  for (; g + 2 <= n_groups; g += 2) {
    add_q4_0_group<kCols>(row, cols, n_blocks, g, even);
    add_q4_0_group<kCols>(row, cols, n_blocks, g + 1, odd);
  }
  if (g < n_groups) add_q4_0_group<kCols>(row, cols, n_blocks, g, even);
  for (std::size_t c = 0; c < kCols; ++c) out[c] = hsum(_mm512_add_ps(even[c], odd[c]));
}

constexpr std::array kQ4_0RowKernels = {&q4_0_row_columns<1>, &q4_0_row_columns<2>, &q4_0_row_columns<3>};
static_assert(kQ4_0RowKernels.size() == kMinTileColumns - 1);

void q4_0_rows_few_columns(const std::byte* w, std::size_t row_bytes, std::size_t n_rows, std::size_t n, const std::byte* const* cols,
                           std::size_t n_cols, float* out, std::size_t stride) {
  const std::size_t n_blocks = n / QK_LEGACY;
  const std::size_t n_groups = (n_blocks + 3) / 4;
  thread_local std::vector<Q4_0ActivationGroup> prepared;
  prepared.resize(n_cols * n_groups);
  const Q4_0ActivationGroup* columns[kMinTileColumns - 1];
  for (std::size_t c = 0; c < n_cols; ++c) {
    prepare_q4_0_column(cols[c], n_blocks, prepared.data() + c * n_groups);
    columns[c] = prepared.data() + c * n_groups;
  }
  for (std::size_t r = 0; r < n_rows; ++r) {
    float results[kMinTileColumns - 1];
    kQ4_0RowKernels[n_cols - 1](w + r * row_bytes, columns, n_blocks, results);
    for (std::size_t c = 0; c < n_cols; ++c) out[c * stride + r] = results[c];
  }
}

// Y = W X for W's rows at w (row_bytes apart) and columns at cols; column c's outputs go to
// out + c * stride. From kMinTileColumns columns on, in tiles: rows go in blocks that fit in L2, each
// block meeting every group of columns.
void q4_0_rows(const std::byte* w, std::size_t row_bytes, std::size_t n_rows, std::size_t n, const std::byte* const* cols,
               std::size_t n_cols, float* out, std::size_t stride) {
  if (n_cols < kMinTileColumns) return q4_0_rows_few_columns(w, row_bytes, n_rows, n, cols, n_cols, out, stride);
  const std::size_t n_blocks = n / QK_LEGACY;
  thread_local ColumnBlockTerms terms;
  compute_column_terms(cols, n_cols, n_blocks, terms);
  const std::size_t block_rows = std::max<std::size_t>(kTileRows, kRowBlockBytes / row_bytes / kTileRows * kTileRows);
  for (std::size_t first_row = 0; first_row < n_rows; first_row += block_rows) {
    const std::size_t end_row = std::min(n_rows, first_row + block_rows);
    for (std::size_t c = 0; c < n_cols; c += kTileColumns) {
      const std::size_t group = std::min(kTileColumns, n_cols - c);
      for (std::size_t r = first_row; r < end_row; r += kTileRows) {
        const std::size_t valid_rows = std::min(kTileRows, end_row - r);
        // Rows past the end read row r again; their lanes are not stored.
        const std::byte* rows[kTileRows];
        alignas(64) std::int32_t offsets[kTileRows];
        for (std::size_t i = 0; i < kTileRows; ++i) {
          const std::size_t row = i < valid_rows ? i : 0;
          rows[i] = w + (r + row) * row_bytes;
          offsets[i] = static_cast<std::int32_t>(row * row_bytes);
        }
        float* outputs[kTileColumns];
        for (std::size_t k = 0; k < group; ++k) outputs[k] = out + (c + k) * stride + r;
        kQ4_0TileKernels[group - 1](rows, _mm512_load_si512(offsets), static_cast<__mmask16>((1u << valid_rows) - 1), cols + c,
                                    terms.d.data() + c * n_blocks, terms.offset.data() + c * n_blocks, n_blocks, outputs);
      }
    }
  }
}

void q4_0_dot_rows(const WeightRows& weights, const ActivationColumns& activations, OutputColumns out) {
  thread_local std::vector<const std::byte*> cols;
  cols.resize(activations.n_cols);
  for (std::size_t c = 0; c < cols.size(); ++c) cols[c] = static_cast<const std::byte*>(activations.data) + c * activations.column_bytes;
  q4_0_rows(static_cast<const std::byte*>(weights.data), weights.row_bytes, weights.n_rows, weights.n, cols.data(), cols.size(), out.data,
            out.column_stride);
}

// One row, through the same code as whole products.
void q4_0_dot_columns(const void* weight_row, const void* const* columns, std::size_t n_cols, float* out, std::size_t n) {
  q4_0_rows(static_cast<const std::byte*>(weight_row), n / QK_LEGACY * sizeof(BlockQ4_0), 1, n,
            reinterpret_cast<const std::byte* const*>(columns), n_cols, out, 1);
}

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
      prefetch_ahead(w + b * sizeof(typename Unpacker::Block), sizeof(typename Unpacker::Block));
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
    .dot_q4_0 = q4_0_dot_columns,
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
    .rows_q4_0 = q4_0_dot_rows,
};

}  // namespace

const KernelTable& detail::avx512_kernel_table() { return kAvx512Table; }

}  // namespace mg::engine

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
