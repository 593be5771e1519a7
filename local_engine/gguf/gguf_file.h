// A GGUF file (versions 2 and 3, little-endian), read in place from a memory map: the metadata as typed
// values, and each tensor's name, shape, type and bytes. Every count, length and offset in the file is
// checked against what the file can hold before it is used, so a truncated, corrupted or hostile file
// ends in a GgufError that names the problem and where it is, never in a crash or a read out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "local_engine/kernels/ggml_type.h"

namespace mg::engine {

class GgufError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The value types of GGUF metadata, with the file's numbering.
enum class GgufType : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

std::string_view gguf_type_name(GgufType type);

// An array value. Numbers stay as the file's bytes (elements of `element_type`, read with at()); strings
// are views into the mapped file.
struct GgufArray {
  GgufType element_type = GgufType::u8;
  std::uint64_t count = 0;
  std::span<const std::byte> bytes;       // numbers and booleans: count * element size bytes
  std::vector<std::string_view> strings;  // strings: count views

  // Element i as a double / an integer; the array must hold numbers (or booleans).
  double number_at(std::uint64_t i) const;
  std::int64_t integer_at(std::uint64_t i) const;
};

struct GgufValue {
  GgufType type = GgufType::u8;
  // Integers (of any width and sign) as the widest type that holds them; floats as double.
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string_view, GgufArray> value;
};

// Shapes use ggml's order: shape[0] is the number of elements in a row (the innermost dimension).
struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> shape;  // [ne0, ne1, ...], 1 to 4 dimensions, none zero
  GgmlType type = GgmlType::f32;
  std::uint64_t file_offset = 0;  // absolute, in bytes from the start of the file
  std::uint64_t bytes = 0;

  std::uint64_t elements() const;
  std::string shape_text() const;  // "[4096, 32000]"
};

class GgufFile {
 public:
  // Maps the file read-only and parses it; GgufError when it cannot be read or is not a valid GGUF file.
  static GgufFile open(const std::filesystem::path& path);
  // Parses bytes already in memory (kept alive by the file); `name` appears in errors.
  static GgufFile parse(std::vector<std::byte> bytes, std::string name = "GGUF data");

  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }
  std::uint64_t file_size() const { return bytes_.size(); }
  const std::string& name() const { return name_; }

  // Metadata, in the file's order.
  const std::vector<std::pair<std::string_view, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;

  // Typed getters: nullopt when the key is absent; GgufError when it is present with a type that cannot
  // be read as asked (a negative number as unsigned, a string as a number, a value out of range).
  std::optional<std::uint64_t> get_uint(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  const GgufArray* get_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  std::span<const std::byte> tensor_bytes(const GgufTensorInfo& tensor) const;

 private:
  class Storage;
  GgufFile(std::shared_ptr<const Storage> storage, std::string name);
  void parse_all();

  std::shared_ptr<const Storage> storage_;
  std::span<const std::byte> bytes_;
  std::string name_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string_view, GgufValue>> metadata_;
  std::unordered_map<std::string_view, std::size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string_view, std::size_t> tensor_index_;
};

}  // namespace mg::engine
