// Small GGUF files for the reader's tests, built with the engine's writer, and helpers to poke at their
// bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "local_engine/gguf/gguf_writer.h"

namespace mg::engine::test {

inline std::vector<std::byte> counting_bytes(std::size_t count) {
  std::vector<std::byte> bytes(count);
  for (std::size_t i = 0; i < count; ++i) bytes[i] = static_cast<std::byte>(i * 7 + 3);
  return bytes;
}

// Metadata of every value type and tensors of several element types, as a small llama file has them.
inline GgufWriter sample_writer(std::uint32_t alignment = 32) {
  GgufWriter writer(alignment);
  writer.set_string("general.architecture", "llama");
  writer.set_uint32("llama.block_count", 2);
  writer.set_int32("llama.some_signed", -5);
  writer.set_uint64("llama.context_length", 4096);
  writer.set_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  writer.set_bool("tokenizer.ggml.add_bos_token", true);
  writer.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xe2\x96\x81hello"});
  writer.set_float32_array("tokenizer.ggml.scores", {0.f, 0.f, 0.f, -1.5f});
  writer.set_int32_array("tokenizer.ggml.token_type", {2, 3, 3, 1});
  writer.add_tensor("token_embd.weight", {32, 4}, GgmlType::q8_0, counting_bytes(4 * 34));
  writer.add_tensor("output_norm.weight", {32}, GgmlType::f32, counting_bytes(32 * 4));
  writer.add_tensor("blk.0.attn_q.weight", {256, 2}, GgmlType::q4_k, counting_bytes(2 * 144));
  writer.add_tensor("blk.0.ffn_norm.weight", {3}, GgmlType::f16, counting_bytes(6));
  return writer;
}

template <typename T>
void put(std::vector<std::byte>& bytes, std::size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

template <typename T>
T get(const std::vector<std::byte>& bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

// Where `text` first occurs in the bytes (the tests use it to find a key or a name).
inline std::size_t find_text(const std::vector<std::byte>& bytes, const std::string& text) {
  std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return all.find(text);
}

}  // namespace mg::engine::test
