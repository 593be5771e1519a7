// Writes GGUF version 3 files: metadata in the order it was set, tensor infos, and the tensor data,
// each tensor aligned. Tensor bytes can be produced at write time, one tensor at a time, so a file of
// many gigabytes (the full 7B shape) never has to be held in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/gguf/gguf_file.h"

namespace mg::engine {

class GgufWriter {
 public:
  // Produces a tensor's bytes (exactly its size) when the file is written.
  using TensorProducer = std::function<std::vector<std::byte>()>;

  explicit GgufWriter(std::uint32_t alignment = 32);

  // Setting a key again replaces its value and keeps its place.
  void set_uint32(std::string_view key, std::uint32_t value);
  void set_int32(std::string_view key, std::int32_t value);
  void set_uint64(std::string_view key, std::uint64_t value);
  void set_float32(std::string_view key, float value);
  void set_bool(std::string_view key, bool value);
  void set_string(std::string_view key, std::string_view value);
  void set_string_array(std::string_view key, const std::vector<std::string>& values);
  void set_float32_array(std::string_view key, const std::vector<float>& values);
  void set_int32_array(std::string_view key, const std::vector<std::int32_t>& values);
  // Any value, already encoded as GGUF bytes after its type (for tests that need odd encodings).
  void set_raw(std::string_view key, GgufType type, std::vector<std::byte> encoded);

  // `shape` in ggml order (row length first). GgufError if the bytes would not match the shape and type.
  void add_tensor(std::string name, std::vector<std::uint64_t> shape, GgmlType type, TensorProducer produce);
  void add_tensor(std::string name, std::vector<std::uint64_t> shape, GgmlType type, std::vector<std::byte> bytes);

  void write(const std::filesystem::path& path) const;  // GgufError when the file cannot be written
  std::vector<std::byte> bytes() const;                 // the whole file in memory

 private:
  struct Entry {
    std::string key;
    GgufType type;
    std::vector<std::byte> encoded;
  };
  struct Tensor {
    std::string name;
    std::vector<std::uint64_t> shape;
    GgmlType type;
    std::uint64_t bytes;
    TensorProducer produce;
  };

  void set(std::string_view key, GgufType type, std::vector<std::byte> encoded);
  static std::uint64_t tensor_bytes(const std::string& name, const std::vector<std::uint64_t>& shape, GgmlType type);
  std::vector<std::byte> header_and_infos() const;
  void write_to(const std::function<void(const std::byte*, std::size_t)>& sink) const;

  std::uint32_t alignment_;
  std::vector<Entry> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace mg::engine
