#include "local_engine/gguf/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace mg::engine {
namespace {

template <typename T>
void append(std::vector<std::byte>& out, T value) {
  auto at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);
}

void append_string(std::vector<std::byte>& out, std::string_view text) {
  append<std::uint64_t>(out, text.size());
  auto bytes = reinterpret_cast<const std::byte*>(text.data());
  out.insert(out.end(), bytes, bytes + text.size());
}

template <typename T>
std::vector<std::byte> encoded(T value) {
  std::vector<std::byte> out;
  append(out, value);
  return out;
}

template <typename T>
std::vector<std::byte> encoded_array(GgufType element_type, const std::vector<T>& values) {
  std::vector<std::byte> out;
  append(out, static_cast<std::uint32_t>(element_type));
  append<std::uint64_t>(out, values.size());
  for (const T& value : values) append(out, value);
  return out;
}

std::uint64_t padded(std::uint64_t size, std::uint64_t alignment) { return (size + alignment - 1) / alignment * alignment; }

}  // namespace

GgufWriter::GgufWriter(std::uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) throw GgufError("GGUF alignment must be a power of two");
  if (alignment != 32) set_uint32("general.alignment", alignment);
}

void GgufWriter::set(std::string_view key, GgufType type, std::vector<std::byte> bytes) {
  for (Entry& entry : metadata_) {
    if (entry.key == key) {
      entry.type = type;
      entry.encoded = std::move(bytes);
      return;
    }
  }
  metadata_.push_back(Entry{std::string(key), type, std::move(bytes)});
}

void GgufWriter::set_uint32(std::string_view key, std::uint32_t value) { set(key, GgufType::u32, encoded(value)); }
void GgufWriter::set_int32(std::string_view key, std::int32_t value) { set(key, GgufType::i32, encoded(value)); }
void GgufWriter::set_uint64(std::string_view key, std::uint64_t value) { set(key, GgufType::u64, encoded(value)); }
void GgufWriter::set_float32(std::string_view key, float value) { set(key, GgufType::f32, encoded(value)); }
void GgufWriter::set_bool(std::string_view key, bool value) { set(key, GgufType::boolean, encoded<std::uint8_t>(value ? 1 : 0)); }
void GgufWriter::set_raw(std::string_view key, GgufType type, std::vector<std::byte> bytes) { set(key, type, std::move(bytes)); }

void GgufWriter::set_string(std::string_view key, std::string_view value) {
  std::vector<std::byte> out;
  append_string(out, value);
  set(key, GgufType::string, std::move(out));
}

void GgufWriter::set_string_array(std::string_view key, const std::vector<std::string>& values) {
  std::vector<std::byte> out;
  append(out, static_cast<std::uint32_t>(GgufType::string));
  append<std::uint64_t>(out, values.size());
  for (const std::string& value : values) append_string(out, value);
  set(key, GgufType::array, std::move(out));
}

void GgufWriter::set_float32_array(std::string_view key, const std::vector<float>& values) {
  set(key, GgufType::array, encoded_array(GgufType::f32, values));
}

void GgufWriter::set_int32_array(std::string_view key, const std::vector<std::int32_t>& values) {
  set(key, GgufType::array, encoded_array(GgufType::i32, values));
}

// The tensor's size in bytes; GgufError when the shape does not suit the type.
std::uint64_t GgufWriter::tensor_bytes(const std::string& name, const std::vector<std::uint64_t>& shape, GgmlType type) {
  std::uint64_t elements = 1;
  for (std::uint64_t extent : shape) elements *= extent;
  auto bytes = ggml_bytes(type, elements);
  if (shape.empty() || shape.size() > 4 || !bytes || shape[0] % traits_of(type).block_elements != 0) {
    throw GgufError("tensor '" + name + "': shape does not fit type " + std::string(traits_of(type).name));
  }
  return *bytes;
}

void GgufWriter::add_tensor(std::string name, std::vector<std::uint64_t> shape, GgmlType type, TensorProducer produce) {
  std::uint64_t bytes = tensor_bytes(name, shape, type);
  tensors_.push_back(Tensor{std::move(name), std::move(shape), type, bytes, std::move(produce)});
}

void GgufWriter::add_tensor(std::string name, std::vector<std::uint64_t> shape, GgmlType type, std::vector<std::byte> bytes) {
  std::uint64_t expected = tensor_bytes(name, shape, type);
  if (bytes.size() != expected) {
    throw GgufError("tensor '" + name + "': " + std::to_string(bytes.size()) + " bytes given; its shape and type take " + std::to_string(expected));
  }
  auto shared = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
  tensors_.push_back(Tensor{std::move(name), std::move(shape), type, expected, [shared] { return *shared; }});
}

std::vector<std::byte> GgufWriter::header_and_infos() const {
  std::vector<std::byte> out;
  append<std::uint32_t>(out, 0x46554747);  // "GGUF"
  append<std::uint32_t>(out, 3);
  append<std::uint64_t>(out, tensors_.size());
  append<std::uint64_t>(out, metadata_.size());
  for (const Entry& entry : metadata_) {
    append_string(out, entry.key);
    append(out, static_cast<std::uint32_t>(entry.type));
    out.insert(out.end(), entry.encoded.begin(), entry.encoded.end());
  }
  std::uint64_t offset = 0;
  for (const Tensor& tensor : tensors_) {
    append_string(out, tensor.name);
    append<std::uint32_t>(out, static_cast<std::uint32_t>(tensor.shape.size()));
    for (std::uint64_t extent : tensor.shape) append(out, extent);
    append(out, static_cast<std::uint32_t>(tensor.type));
    append(out, offset);
    offset += padded(tensor.bytes, alignment_);
  }
  out.resize(padded(out.size(), alignment_), std::byte{0});
  return out;
}

void GgufWriter::write_to(const std::function<void(const std::byte*, std::size_t)>& sink) const {
  std::vector<std::byte> head = header_and_infos();
  sink(head.data(), head.size());
  const std::vector<std::byte> zeros(alignment_, std::byte{0});
  for (const Tensor& tensor : tensors_) {
    std::vector<std::byte> data = tensor.produce();
    if (data.size() != tensor.bytes) {
      throw GgufError("tensor '" + tensor.name + "': produced " + std::to_string(data.size()) + " bytes; expected " + std::to_string(tensor.bytes));
    }
    sink(data.data(), data.size());
    sink(zeros.data(), padded(tensor.bytes, alignment_) - tensor.bytes);
  }
}

std::vector<std::byte> GgufWriter::bytes() const {
  std::vector<std::byte> out;
  write_to([&](const std::byte* data, std::size_t size) { out.insert(out.end(), data, data + size); });
  return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) throw GgufError("cannot create '" + path.string() + "': " + std::strerror(errno));
  write_to([&](const std::byte* data, std::size_t size) {
    if (size > 0 && std::fwrite(data, 1, size, file.get()) != size) throw GgufError("cannot write '" + path.string() + "': " + std::strerror(errno));
  });
  if (std::fclose(file.release()) != 0) throw GgufError("cannot finish writing '" + path.string() + "': " + std::strerror(errno));
}

}  // namespace mg::engine
