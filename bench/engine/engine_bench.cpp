#include "bench/engine/engine_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>

#include "local_engine/engine/engine.h"
#include "local_engine/engine/resident_memory.h"
#include "local_engine/kernels/quantized_dot.h"

namespace mg::bench {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kUsage =
    "Usage: modelgate bench --model FILE.gguf [options]\n"
    "\n"
    "Measures the local engine on a GGUF file: prompt processing (pp) and token generation (tg) in\n"
    "tokens/s, averaged over repetitions, as llama-bench reports them; a memory bandwidth probe; and\n"
    "the share of the bandwidth bound (weights read per token / bandwidth) that generation reaches.\n"
    "\n"
    "Options:\n"
    "  --threads N       threads (default: the machine's cores)\n"
    "  --pp N            prompt tokens (default 512; 0 skips)\n"
    "  --tg N            generated tokens (default 128; 0 skips)\n"
    "  --repetitions N   runs of each test (default 3)\n"
    "  --json            one JSON object instead of the table\n"
    "  --mlock           lock the weights in memory at load (mlock)\n";

struct Options {
  std::string model;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::uint32_t pp = 512;
  std::uint32_t tg = 128;
  int repetitions = 3;
  bool json = false;
  bool mlock = false;
};

Options parse(const std::vector<std::string>& args) {
  Options options;
  auto number = [&](std::size_t& i) {
    if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
    const std::string& text = args[++i];
    std::size_t used = 0;
    unsigned long value = std::stoul(text, &used);
    if (used != text.size()) throw std::invalid_argument(args[i - 1] + " expects a number; got '" + text + "'");
    return value;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--model" && i + 1 < args.size()) options.model = args[++i];
    else if (arg == "--threads") options.threads = static_cast<unsigned>(std::max(1ul, number(i)));
    else if (arg == "--pp") options.pp = static_cast<std::uint32_t>(number(i));
    else if (arg == "--tg") options.tg = static_cast<std::uint32_t>(number(i));
    else if (arg == "--repetitions") options.repetitions = static_cast<int>(std::max(1ul, number(i)));
    else if (arg == "--json") options.json = true;
    else if (arg == "--mlock") options.mlock = true;
    else throw std::invalid_argument("unknown option '" + arg + "'");
  }
  if (options.model.empty()) throw std::invalid_argument("--model is required");
  return options;
}

struct Figure {
  double mean = 0;
  double stddev = 0;
};

Figure summarize(const std::vector<double>& samples) {
  Figure figure;
  if (samples.empty()) return figure;
  figure.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  double squares = 0;
  for (double s : samples) squares += (s - figure.mean) * (s - figure.mean);
  figure.stddev = samples.size() > 1 ? std::sqrt(squares / static_cast<double>(samples.size() - 1)) : 0.0;
  return figure;
}

std::vector<std::int32_t> random_tokens(std::uint32_t count, std::uint32_t n_vocab) {
  std::mt19937 random(1);
  std::vector<std::int32_t> tokens(count);
  for (auto& token : tokens) token = static_cast<std::int32_t>(random() % n_vocab);
  return tokens;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Tokens per second of each repetition: the whole prompt in one evaluation (pp), or one token per
// evaluation from an empty context (tg), each on a fresh session.
std::vector<double> measure(const engine::Engine& engine, const Options& options, std::uint32_t tokens, bool generation) {
  const auto& model = engine.model();
  std::vector<std::int32_t> input = random_tokens(std::max(tokens, 1u), model->hparams().n_vocab);
  std::vector<double> rates;
  for (int rep = 0; rep < options.repetitions; ++rep) {
    engine::LlamaSession session(model, std::max(options.pp, options.tg) + 1, options.threads);
    auto start = Clock::now();
    if (generation) {
      for (std::int32_t token : input) session.evaluate(std::span(&token, 1));
    } else {
      session.evaluate(input);
    }
    rates.push_back(tokens / seconds_since(start));
  }
  return rates;
}

// Sums a range with wide vector loads where the CPU has them (cloned per ISA and chosen at run time),
// so that the probe measures memory, not adds.
__attribute__((target_clones("avx512f", "avx2", "default"))) std::uint64_t sum_words(const std::uint64_t* words, std::size_t count) {
  std::uint64_t lanes[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    for (int lane = 0; lane < 8; ++lane) lanes[lane] += words[i + static_cast<std::size_t>(lane)];
  }
  std::uint64_t total = 0;
  for (std::uint64_t lane : lanes) total += lane;
  for (; i < count; ++i) total += words[i];
  return total;
}

// Reading a buffer far larger than the caches, with every thread, best of three: what the memory
// system delivers to a streaming reader, as token generation is.
double memory_bandwidth_gb_s(unsigned threads) {
  constexpr std::size_t kBytes = std::size_t{1} << 30;
  std::vector<std::uint64_t> buffer(kBytes / sizeof(std::uint64_t));
  std::iota(buffer.begin(), buffer.end(), 0u);
  engine::ThreadPool pool(threads);
  std::vector<std::uint64_t> sums(threads);
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto start = Clock::now();
    pool.run([&](unsigned index, unsigned count) {
      auto [first, last] = engine::ThreadPool::share(buffer.size(), index, count);
      sums[index] = sum_words(buffer.data() + first, last - first);
    });
    best = std::max(best, static_cast<double>(kBytes) / seconds_since(start) / 1e9);
  }
  volatile std::uint64_t keep = std::accumulate(sums.begin(), sums.end(), std::uint64_t{0});
  (void)keep;
  return best;
}

// The weight bytes one generated token reads: every layer (of a mixture, the attention, the router and
// n_expert_used of n_expert experts), the final norm and the output projection, and one embedding row.
double weight_bytes_per_token(const engine::LlamaModel& model) {
  const engine::LlamaHyperParams& p = model.hparams();
  double bytes = 0;
  for (const engine::GgufTensorInfo& tensor : model.file().tensors()) {
    if (tensor.name == "token_embd.weight") {
      bytes += static_cast<double>(tensor.bytes) / static_cast<double>(p.n_vocab);
    } else if (p.is_moe() && (tensor.name.find("_exps.") != std::string::npos || tensor.name.find("ffn_gate.") != std::string::npos ||
                              tensor.name.find("ffn_up.") != std::string::npos || tensor.name.find("ffn_down.") != std::string::npos)) {
      bytes += static_cast<double>(tensor.bytes) * p.n_expert_used / p.n_expert;
    } else {
      bytes += static_cast<double>(tensor.bytes);
    }
  }
  return bytes;
}

// "name Q4_K_M": the file type as llama.cpp names it (general.file_type), else the type most bytes have.
std::string model_label(const engine::LlamaModel& model) {
  static const std::pair<std::uint64_t, const char*> kFileTypes[] = {
      {0, "F32"},     {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},    {8, "Q5_0"},    {9, "Q5_1"},    {10, "Q2_K"}, {11, "Q3_K_S"},
      {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"}, {32, "BF16"}};
  std::string name(model.file().get_string("general.name").value_or("llama"));
  if (auto file_type = model.file().get_uint("general.file_type")) {
    for (auto [id, label] : kFileTypes) {
      if (id == *file_type) return name + " " + label;
    }
  }
  std::vector<std::pair<std::uint64_t, std::string>> bytes_by_type;
  for (const engine::GgufTensorInfo& tensor : model.file().tensors()) {
    std::string type(engine::traits_of(tensor.type).name);
    auto it = std::find_if(bytes_by_type.begin(), bytes_by_type.end(), [&](const auto& entry) { return entry.second == type; });
    if (it == bytes_by_type.end()) bytes_by_type.emplace_back(tensor.bytes, type);
    else it->first += tensor.bytes;
  }
  std::sort(bytes_by_type.rbegin(), bytes_by_type.rend());
  return name + " " + (bytes_by_type.empty() ? std::string("?") : bytes_by_type.front().second);
}

}  // namespace

int run_engine_bench_command(const std::vector<std::string>& args) {
  if (std::find(args.begin(), args.end(), "--help") != args.end()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Options options;
  try {
    options = parse(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelgate bench: %s\n\n%s", e.what(), kUsage);
    return 2;
  }
  try {
    const std::uint64_t resident_before = engine::resident_bytes();
    const auto load_started = std::chrono::steady_clock::now();
    auto engine = engine::Engine::load(options.model, engine::LoadOptions{.progress = {}, .lock_in_memory = options.mlock});
    const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_started).count();
    const double load_resident_mib = static_cast<double>(engine::resident_bytes() - resident_before) / (1024.0 * 1024.0);
    const engine::LlamaModel& model = *engine->model();
    measure(*engine, Options{options.model, options.threads, 0, 1, 1, false}, 1, true);  // warm up
    Figure pp = options.pp ? summarize(measure(*engine, options, options.pp, false)) : Figure{};
    Figure tg = options.tg ? summarize(measure(*engine, options, options.tg, true)) : Figure{};
    double bandwidth = memory_bandwidth_gb_s(options.threads);
    double per_token = weight_bytes_per_token(model);
    double bound = bandwidth * 1e9 / per_token;
    std::uint64_t params = 0;
    for (const auto& tensor : model.file().tensors()) params += tensor.elements();
    double gib = static_cast<double>(model.file().file_size()) / (1024.0 * 1024.0 * 1024.0);
    const std::string kernels(engine::kernel_isa_name(engine::active_kernel_isa()));
    if (options.json) {
      std::printf("{\"model\": \"%s\", \"model_bytes\": %llu, \"params\": %llu, \"threads\": %u, \"kernels\": \"%s\", \"pp\": %u, \"pp_tok_s\": %.3f, "
                  "\"pp_stddev\": %.3f, \"tg\": %u, \"tg_tok_s\": %.3f, \"tg_stddev\": %.3f, \"bandwidth_gb_s\": %.2f, \"tg_bytes_per_token\": %.0f, "
                  "\"tg_bandwidth_bound_tok_s\": %.3f, \"tg_bandwidth_bound_pct\": %.1f, \"load_s\": %.3f, \"load_resident_mib\": %.1f}\n",
                  model_label(model).c_str(), static_cast<unsigned long long>(model.file().file_size()), static_cast<unsigned long long>(params),
                  options.threads, kernels.c_str(), options.pp, pp.mean, pp.stddev, options.tg, tg.mean, tg.stddev, bandwidth, per_token, bound,
                  100.0 * tg.mean / bound, load_seconds, load_resident_mib);
      return 0;
    }
    std::printf("| %-28s | %10s | %8s | %-7s | %7s | %8s | %18s |\n", "model", "size", "params", "backend", "threads", "test", "t/s");
    std::printf("| %-28s | %10s | %8s | %-7s | %7s | %8s | %18s |\n", ":---", "---:", "---:", "---", "---:", "---:", "---:");
    auto row = [&](const char* test, std::uint32_t n, const Figure& figure) {
      std::string name = std::string(test) + std::to_string(n);
      std::printf("| %-28s | %6.2f GiB | %6.2f B | %-7s | %7u | %8s | %9.2f ± %6.2f |\n", model_label(model).c_str(), gib, static_cast<double>(params) / 1e9,
                  "CPU", options.threads, name.c_str(), figure.mean, figure.stddev);
    };
    if (options.pp) row("pp", options.pp, pp);
    if (options.tg) row("tg", options.tg, tg);
    std::printf("\nload: %.3f s, resident memory grew by %.1f MiB (the file is %.1f MiB, used in place%s)\n", load_seconds, load_resident_mib,
                gib * 1024.0, options.mlock ? " and locked in memory" : "");
    std::printf("kernels: %s; memory bandwidth: %.1f GB/s with %u threads; weights read per generated token: %.1f MiB;\n"
                "bandwidth bound for generation: %.2f tokens/s; tg reaches %.1f%% of it\n",
                kernels.c_str(), bandwidth, options.threads, per_token / (1024.0 * 1024.0), bound, 100.0 * tg.mean / bound);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelgate bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace mg::bench
