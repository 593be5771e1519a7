#include "tools/engine_commands.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

#include "local_engine/chat/mistral_chat_template.h"
#include "local_engine/engine/engine.h"
#include "local_engine/model/synthetic_model.h"
#include "local_engine/tokenizer/gguf_vocabulary.h"

namespace mg::tools {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kSynthUsage =
    "Usage: modelgate synth-model --out FILE.gguf [options]\n"
    "\n"
    "Writes a GGUF file with the real Mistral or Mixtral architecture and deterministic random weights.\n"
    "\n"
    "Options:\n"
    "  --shape NAME           tiny-mistral (default), tiny-mixtral, mistral-7b, mixtral-8x7b\n"
    "  --type TYPE            F32 (default), F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K\n"
    "  --seed N               the weights' seed (default 1): the same seed gives the same file\n"
    "  --layers N             fewer (or more) layers than the shape has\n"
    "  --context N            the context length the file declares\n"
    "  --sliding-window N     declare sliding-window attention over N positions\n"
    "  --vocab FILE           a real vocabulary: a SentencePiece tokenizer.model, or a GGUF file to copy it from\n"
    "  --per-expert-tensors   Mixtral experts as one tensor each (older converters) instead of merged\n";

const char* const kGenerateUsage =
    "Usage: modelgate generate --model FILE.gguf --prompt TEXT [options]\n"
    "\n"
    "Streams the generated text to stdout; loading progress and speed go to stderr.\n"
    "Without --chat the prompt is raw text after BOS; with --chat it is a user message, built into the\n"
    "model's Mistral chat template (v1, v2 or v3, chosen from its vocabulary and tokenizer.chat_template).\n"
    "\n"
    "Options:\n"
    "  --chat             the prompt is a user message in the model's chat template\n"
    "  --system TEXT      with --chat: a system prompt\n"
    "  --max-tokens N     at most N tokens (default 128)\n"
    "  --temperature T    0 for greedy (default 0.8)\n"
    "  --top-k K          (default 40; 0: off)\n"
    "  --top-p P          (default 0.95)\n"
    "  --min-p P          (default 0.05)\n"
    "  --seed S           the sampler's seed (default: random)\n"
    "  --ctx N            context positions (default: 4096 or the model's, whichever is smaller)\n"
    "  --threads N        threads for the matrix products (default: the machine's cores)\n";

// --name value pairs and --flags; std::invalid_argument for an unknown option or a missing value.
class Options {
 public:
  Options(const std::vector<std::string>& args, const std::vector<std::string>& valued, const std::vector<std::string>& flags) {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (std::find(flags.begin(), flags.end(), arg) != flags.end()) {
        values_[arg] = "";
      } else if (std::find(valued.begin(), valued.end(), arg) != valued.end()) {
        if (i + 1 >= args.size()) throw std::invalid_argument(arg + " needs a value");
        values_[arg] = args[++i];
      } else {
        throw std::invalid_argument("unknown option '" + arg + "'");
      }
    }
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string text(const std::string& name, std::string fallback = "") const { return has(name) ? values_.at(name) : fallback; }
  std::string required(const std::string& name) const {
    if (!has(name)) throw std::invalid_argument(name + " is required");
    return values_.at(name);
  }
  std::uint64_t number(const std::string& name, std::uint64_t fallback) const { return has(name) ? parse<std::uint64_t>(name) : fallback; }
  float real(const std::string& name, float fallback) const { return has(name) ? parse<float>(name) : fallback; }

 private:
  template <typename T>
  T parse(const std::string& name) const {
    const std::string& value = values_.at(name);
    try {
      std::size_t used = 0;
      T parsed;
      if constexpr (std::is_floating_point_v<T>) parsed = static_cast<T>(std::stod(value, &used));
      else parsed = static_cast<T>(std::stoull(value, &used));
      if (used == value.size() && value[0] != '-') return parsed;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument(name + " expects a non-negative number; got '" + value + "'");
  }

  std::map<std::string, std::string> values_;
};

bool wants_help(const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), "--help") != args.end() || std::find(args.begin(), args.end(), "-h") != args.end();
}

engine::Vocabulary vocabulary_from(const std::filesystem::path& path) {
  if (path.extension() == ".gguf") return engine::vocabulary_from_gguf(engine::GgufFile::open(path));
  return engine::read_sentencepiece_model(path);
}

double mebibytes(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int synth_model(const Options& options) {
  engine::SyntheticModelSpec spec = engine::synthetic_preset(options.text("--shape", "tiny-mistral"));
  spec.file_type = options.text("--type", "F32");
  spec.seed = options.number("--seed", 1);
  spec.merged_experts = !options.has("--per-expert-tensors");
  spec.hparams.n_layer = static_cast<std::uint32_t>(options.number("--layers", spec.hparams.n_layer));
  spec.hparams.n_ctx_train = static_cast<std::uint32_t>(options.number("--context", spec.hparams.n_ctx_train));
  if (options.has("--sliding-window")) spec.hparams.sliding_window = static_cast<std::uint32_t>(options.number("--sliding-window", 0));
  if (options.has("--vocab")) spec.vocabulary = vocabulary_from(options.text("--vocab"));
  std::filesystem::path out = options.required("--out");

  auto started = Clock::now();
  engine::synthetic_model_writer(spec).write(out);
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  engine::GgufFile written = engine::GgufFile::open(out);
  engine::LlamaHyperParams params = engine::read_llama_hparams(written);
  std::printf("wrote %s: %s, %s, %.1f MiB in %.1f s\n  %s\n", out.c_str(), spec.name.c_str(), spec.file_type.c_str(), mebibytes(written.file_size()), seconds,
              params.summary().c_str());
  return 0;
}

// The prompt ids of a one-turn conversation in the model's own chat template.
std::vector<std::int32_t> chat_prompt(const engine::Engine& engine, const std::string& system, const std::string& user) {
  auto gguf_template = engine.model()->file().get_string("tokenizer.chat_template");
  engine::MistralTemplateVersion version = engine::select_template(engine.tokenizer(), gguf_template);
  engine::ChatConversation conversation;
  auto add = [&](engine::ChatRole role, const std::string& content) {
    engine::ChatMessage message;
    message.role = role;
    message.content = content;
    conversation.messages.push_back(std::move(message));
  };
  if (!system.empty()) add(engine::ChatRole::system, system);
  add(engine::ChatRole::user, user);
  std::fprintf(stderr, "chat template: Mistral %s\n", std::string(engine::version_name(version)).c_str());
  return engine::build_mistral_prompt(engine.tokenizer(), version, conversation);
}

void show_progress(double fraction) {
  int filled = static_cast<int>(fraction * 40);
  std::fprintf(stderr, "\rloading [%.*s%*s] %3d%%", filled, "########################################", 40 - filled, "", static_cast<int>(fraction * 100));
  if (fraction >= 1.0) std::fputc('\n', stderr);
}

int generate(const Options& options) {
  std::filesystem::path model_path = options.required("--model");
  std::string prompt = options.required("--prompt");
  auto load_started = Clock::now();
  auto engine = engine::Engine::load(model_path, {show_progress});
  const engine::LlamaHyperParams& params = engine->model()->hparams();
  std::fprintf(stderr, "%s: %s (%.1f MiB) loaded in %.2f s\n", model_path.filename().c_str(), params.summary().c_str(),
               mebibytes(engine->model()->file().file_size()), std::chrono::duration<double>(Clock::now() - load_started).count());

  engine::GenerationRequest request;
  request.prompt = options.has("--chat") ? chat_prompt(*engine, options.text("--system"), prompt) : engine->tokenizer().encode(prompt, true);
  request.max_tokens = static_cast<std::uint32_t>(options.number("--max-tokens", 128));
  request.sampling.temperature = options.real("--temperature", 0.8f);
  request.sampling.top_k = static_cast<std::uint32_t>(options.number("--top-k", 40));
  request.sampling.top_p = options.real("--top-p", 0.95f);
  request.sampling.min_p = options.real("--min-p", 0.05f);
  if (options.has("--seed")) request.sampling.seed = options.number("--seed", 0);
  auto context = static_cast<std::uint32_t>(options.number("--ctx", std::min<std::uint32_t>(4096, params.n_ctx_train)));
  auto threads = static_cast<unsigned>(options.number("--threads", std::max(1u, std::thread::hardware_concurrency())));
  engine::LlamaSession session(engine->model(), context, threads);

  engine::GenerationResult result = engine->generate(session, request, [](const engine::GeneratedPiece& piece) {
    std::fwrite(piece.text.data(), 1, piece.text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  auto rate = [](std::uint32_t tokens, double seconds) { return seconds > 0 ? tokens / seconds : 0.0; };
  std::fprintf(stderr, "prompt: %u tokens in %.2f s (%.1f tokens/s); generated: %u tokens in %.2f s (%.1f tokens/s); finish: %s\n", result.prompt_tokens,
               result.prompt_seconds, rate(result.prompt_tokens, result.prompt_seconds), result.completion_tokens, result.generation_seconds,
               rate(result.completion_tokens, result.generation_seconds), result.finish_reason.c_str());
  return 0;
}

int run(const char* name, const char* usage, const std::vector<std::string>& args, const std::vector<std::string>& valued,
        const std::vector<std::string>& flags, int (*command)(const Options&)) {
  if (wants_help(args)) {
    std::fputs(usage, stdout);
    return 0;
  }
  try {
    Options options(args, valued, flags);
    return command(options);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "modelgate %s: %s\n\n%s", name, e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelgate %s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace

int run_synth_model_command(const std::vector<std::string>& args) {
  return run("synth-model", kSynthUsage, args, {"--out", "--shape", "--type", "--seed", "--layers", "--context", "--sliding-window", "--vocab"},
             {"--per-expert-tensors"}, synth_model);
}

int run_generate_command(const std::vector<std::string>& args) {
  return run("generate", kGenerateUsage, args,
             {"--model", "--prompt", "--system", "--max-tokens", "--temperature", "--top-k", "--top-p", "--min-p", "--seed", "--ctx", "--threads"},
             {"--chat"}, generate);
}

}  // namespace mg::tools
