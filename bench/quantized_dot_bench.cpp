// Throughput of the quantized dot products per weight type and kernel ISA, as GB/s of weights read:
//   dot_row/<type>/<isa>: one 4096-element row, which stays in L1 (the kernel's compute speed);
//   matvec/<type>/<isa>: y = W x with W [4096, 4096], activations quantized each time (token generation:
//     W streams from L3 or memory, 9 to 67 MB by type);
//   matmul16/<type>/<isa>: Y = W X with 16 activation columns (prompt processing: each weight block is
//     unpacked once per 4 columns), also as multiply-adds per second.
// One thread; the ISAs are those this CPU runs. Run it on a quiet machine for figures.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "local_engine/kernels/dequantize.h"
#include "local_engine/kernels/quantized_dot.h"

namespace {

using namespace mg::engine;

constexpr std::size_t kN = 4096;     // n_embd of a 7B model
constexpr std::size_t kRows = 4096;  // matvec and matmul rows

constexpr GgmlType kTypes[] = {
    GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1, GgmlType::q8_0, GgmlType::q2_k, GgmlType::q3_k,
    GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k, GgmlType::f16,  GgmlType::bf16, GgmlType::f32,
};

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gaussian(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = gaussian(rng);
  return x;
}

// kRows rows of `type`, quantized once per type from Gaussian values (realistic bits, no NaNs).
const std::vector<std::uint8_t>& weight_matrix(GgmlType type) {
  static std::map<GgmlType, std::vector<std::uint8_t>> matrices;
  auto [it, inserted] = matrices.try_emplace(type);
  if (inserted) {
    const std::vector<float> values = random_floats(kRows * kN, 1);
    it->second.resize(*ggml_bytes(type, kRows * kN));
    quantize_row(type, values.data(), it->second.data(), kRows * kN);
  }
  return it->second;
}

std::vector<std::uint8_t> quantized_columns(GgmlType weight_type, std::size_t n_cols) {
  const GgmlType activation_type = activation_type_for(weight_type);
  const std::size_t column_bytes = activation_bytes(activation_type, kN);
  const std::vector<float> x = random_floats(kN * n_cols, 2);
  std::vector<std::uint8_t> columns(column_bytes * n_cols);
  for (std::size_t c = 0; c < n_cols; ++c) {
    quantize_activations(activation_type, x.data() + c * kN, columns.data() + c * column_bytes, kN);
  }
  return columns;
}

void set_rates(benchmark::State& state, double weight_bytes, double multiply_adds) {
  state.counters["weights"] = benchmark::Counter(weight_bytes, benchmark::Counter::kIsIterationInvariantRate);
  if (multiply_adds > 0) {
    state.counters["mul_adds"] = benchmark::Counter(multiply_adds, benchmark::Counter::kIsIterationInvariantRate);
  }
}

void dot_row_bench(benchmark::State& state, GgmlType type, KernelIsa isa) {
  const KernelTable& table = *kernel_table(isa);
  const std::vector<std::uint8_t>& weights = weight_matrix(type);
  const std::vector<std::uint8_t> activations = quantized_columns(type, 1);
  for (auto _ : state) {
    float y = dot_row(table, type, weights.data(), activations.data(), kN);
    benchmark::DoNotOptimize(y);
  }
  set_rates(state, static_cast<double>(*ggml_bytes(type, kN)), 0);
}

void matvec_bench(benchmark::State& state, GgmlType type, KernelIsa isa) {
  const KernelTable& table = *kernel_table(isa);
  const std::vector<std::uint8_t>& weights = weight_matrix(type);
  const GgmlType activation_type = activation_type_for(type);
  const std::vector<float> x = random_floats(kN, 3);
  std::vector<std::uint8_t> activations(activation_bytes(activation_type, kN));
  std::vector<float> y(kRows);
  const std::size_t row_bytes = *ggml_bytes(type, kN);
  for (auto _ : state) {
    quantize_activations(table, activation_type, x.data(), activations.data(), kN);
    dot_rows(table, {type, weights.data(), row_bytes, kRows, kN}, {activations.data(), activations.size(), 1},
             {y.data(), kRows});
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, static_cast<double>(weights.size()), 0);
}

void matmul_bench(benchmark::State& state, GgmlType type, KernelIsa isa) {
  constexpr std::size_t kCols = 16;
  const KernelTable& table = *kernel_table(isa);
  const std::vector<std::uint8_t>& weights = weight_matrix(type);
  const std::vector<std::uint8_t> columns = quantized_columns(type, kCols);
  std::vector<float> y(kRows * kCols);
  const std::size_t row_bytes = *ggml_bytes(type, kN);
  for (auto _ : state) {
    dot_rows(table, {type, weights.data(), row_bytes, kRows, kN}, {columns.data(), columns.size() / kCols, kCols},
             {y.data(), kRows});
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, static_cast<double>(weights.size()), static_cast<double>(kRows * kN * kCols));
}

bool register_benchmarks() {
  for (const auto& [label, bench] : {std::pair{"dot_row", &dot_row_bench}, std::pair{"matvec", &matvec_bench},
                                     std::pair{"matmul16", &matmul_bench}}) {
    for (GgmlType type : kTypes) {
      for (KernelIsa isa : available_kernel_isas()) {
        const std::string name = std::string(label) + "/" + std::string(traits_of(type).name) + "/" +
                                 std::string(kernel_isa_name(isa));
        benchmark::RegisterBenchmark(name.c_str(), bench, type, isa)->Unit(benchmark::kMicrosecond);
      }
    }
  }
  return true;
}

[[maybe_unused]] const bool registered = register_benchmarks();

}  // namespace
