#include "local_engine/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "local_engine/gguf/byte_reader.h"

namespace mg::engine {
namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr std::uint64_t kDefaultAlignment = 32;
constexpr std::uint32_t kMaxDimensions = 4;    // GGML_MAX_DIMS
constexpr std::uint64_t kMaxKeyBytes = 65535;  // the spec's limit on a key's length

std::size_t fixed_size(GgufType type) {
  switch (type) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    case GgufType::string: case GgufType::array: return 0;
  }
  return 0;
}

std::uint32_t swapped(std::uint32_t v) { return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24); }

bool is_known_type(std::uint32_t raw) { return raw <= static_cast<std::uint32_t>(GgufType::f64); }

// One number of `type` from little-endian bytes (the caller has checked the size).
template <typename T>
T load(const std::byte* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

std::variant<std::uint64_t, std::int64_t, double, bool> decode_number(GgufType type, const std::byte* at) {
  switch (type) {
    case GgufType::u8: return std::uint64_t{load<std::uint8_t>(at)};
    case GgufType::u16: return std::uint64_t{load<std::uint16_t>(at)};
    case GgufType::u32: return std::uint64_t{load<std::uint32_t>(at)};
    case GgufType::u64: return load<std::uint64_t>(at);
    case GgufType::i8: return std::int64_t{load<std::int8_t>(at)};
    case GgufType::i16: return std::int64_t{load<std::int16_t>(at)};
    case GgufType::i32: return std::int64_t{load<std::int32_t>(at)};
    case GgufType::i64: return load<std::int64_t>(at);
    case GgufType::f32: return double{load<float>(at)};
    case GgufType::f64: return load<double>(at);
    case GgufType::boolean: return load<std::uint8_t>(at) != 0;
    case GgufType::string: case GgufType::array: break;
  }
  return std::uint64_t{0};
}

}  // namespace

// ---- storage: the mapped file, or bytes handed in ----------------------------------------------------

class GgufFile::Storage {
 public:
  explicit Storage(std::vector<std::byte> owned) : owned_(std::move(owned)), bytes_(owned_) {}
  Storage(void* mapping, std::size_t size) : mapping_(mapping), bytes_(static_cast<const std::byte*>(mapping), size) {}
  ~Storage() {
    if (mapping_) ::munmap(mapping_, bytes_.size());
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  std::vector<std::byte> owned_;
  void* mapping_ = nullptr;
  std::span<const std::byte> bytes_;
};

GgufFile::GgufFile(std::shared_ptr<const Storage> storage, std::string name)
    : storage_(std::move(storage)), bytes_(storage_->bytes()), name_(std::move(name)) {
  parse_all();
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
  std::string name = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw GgufError("cannot open '" + name + "': " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    throw GgufError("'" + name + "' is not a regular file");
  }
  auto size = static_cast<std::size_t>(info.st_size);
  if (size == 0) {
    ::close(fd);
    throw GgufError("'" + name + "' is empty; expected a GGUF file");
  }
  void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int map_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (mapping == MAP_FAILED) throw GgufError("cannot map '" + name + "': " + std::strerror(map_errno));
  return GgufFile(std::make_shared<const Storage>(mapping, size), std::move(name));
}

GgufFile GgufFile::parse(std::vector<std::byte> bytes, std::string name) {
  return GgufFile(std::make_shared<const Storage>(std::move(bytes)), std::move(name));
}

// ---- parsing -------------------------------------------------------------------------------------------

namespace {

class Parser {
 public:
  Parser(std::span<const std::byte> bytes, const std::string& name) : in_(bytes, name) {}

  std::uint32_t read_header(std::uint64_t& tensor_count, std::uint64_t& kv_count) {
    if (in_.remaining() < 4 || in_.peek_u32() != kMagic) throw in_.error("not a GGUF file (the first 4 bytes are not \"GGUF\")");
    in_.skip(4);
    std::uint32_t version = in_.read<std::uint32_t>("version");
    if (version == 1) throw in_.error("GGUF version 1 is not supported (only versions 2 and 3)");
    if (swapped(version) == 2 || swapped(version) == 3) throw in_.error("big-endian GGUF files are not supported");
    if (version != 2 && version != 3) throw in_.error("unknown GGUF version " + std::to_string(version) + "; expected 2 or 3");
    tensor_count = in_.read<std::uint64_t>("tensor count");
    kv_count = in_.read<std::uint64_t>("metadata count");
    // Each entry takes some bytes, so a count the file cannot hold is rejected before anything is allocated.
    in_.check_count(kv_count, 8 + 4 + 1, "metadata entries");
    in_.check_count(tensor_count, 8 + 4 + 8 + 4 + 8, "tensors");
    return version;
  }

  GgufValue read_value(GgufType type, const std::string& key) {
    GgufValue value{type, std::uint64_t{0}};
    if (type == GgufType::string) {
      value.value = in_.read_string("the value of '" + key + "'");
    } else if (type == GgufType::array) {
      value.value = read_array(key);
    } else {
      std::size_t size = fixed_size(type);
      const std::byte* at = in_.take(size, "the value of '" + key + "'");
      std::visit([&](auto number) { value.value = number; }, decode_number(type, at));
    }
    return value;
  }

  GgufType read_type(const std::string& what) {
    std::uint32_t raw = in_.read<std::uint32_t>(what);
    if (!is_known_type(raw)) throw in_.error(what + " is " + std::to_string(raw) + ", not a GGUF value type (0 to 12)");
    return static_cast<GgufType>(raw);
  }

  GgufArray read_array(const std::string& key) {
    GgufArray array;
    array.element_type = read_type("the element type of array '" + key + "'");
    if (array.element_type == GgufType::array) throw in_.error("array '" + key + "' holds arrays, which are not supported");
    array.count = in_.read<std::uint64_t>("the length of array '" + key + "'");
    if (array.element_type == GgufType::string) {
      in_.check_count(array.count, 8, "strings in array '" + key + "'");
      array.strings.reserve(array.count);
      std::string what = "a string of array '" + key + "'";
      for (std::uint64_t i = 0; i < array.count; ++i) array.strings.push_back(in_.read_string(what));
    } else {
      std::size_t size = fixed_size(array.element_type);
      in_.check_count(array.count, size, "elements in array '" + key + "'");
      array.bytes = std::span<const std::byte>(in_.take(array.count * size, "array '" + key + "'"), array.count * size);
    }
    return array;
  }

  std::string_view read_key(std::uint64_t index) {
    std::string_view key = in_.read_string("metadata key " + std::to_string(index));
    if (key.empty() || key.size() > kMaxKeyBytes) throw in_.error("metadata key " + std::to_string(index) + " has length " + std::to_string(key.size()) + "; expected 1 to 65535 bytes");
    return key;
  }

  GgufTensorInfo read_tensor_info(std::uint64_t index) {
    GgufTensorInfo tensor;
    tensor.name = std::string(in_.read_string("the name of tensor " + std::to_string(index)));
    if (tensor.name.empty()) throw in_.error("tensor " + std::to_string(index) + " has an empty name");
    const std::string& name = tensor.name;
    std::uint32_t dimensions = in_.read<std::uint32_t>("the dimension count of tensor '" + name + "'");
    if (dimensions == 0 || dimensions > kMaxDimensions) {
      throw in_.error("tensor '" + name + "' has " + std::to_string(dimensions) + " dimensions; expected 1 to 4");
    }
    for (std::uint32_t d = 0; d < dimensions; ++d) tensor.shape.push_back(in_.read<std::uint64_t>("a dimension of tensor '" + name + "'"));
    std::uint32_t raw_type = in_.read<std::uint32_t>("the type of tensor '" + name + "'");
    auto traits = ggml_type_traits(raw_type);
    if (!traits) throw in_.error("tensor '" + name + "' has type id " + std::to_string(raw_type) + ", which is not a ggml tensor type");
    tensor.type = static_cast<GgmlType>(raw_type);
    tensor.file_offset = in_.read<std::uint64_t>("the offset of tensor '" + name + "'");  // relative until placed
    tensor.bytes = checked_bytes(tensor, *traits);
    return tensor;
  }

  std::uint64_t position() const { return in_.position(); }
  GgufError error(std::string_view what) const { return in_.error(what); }

 private:
  std::uint64_t checked_bytes(const GgufTensorInfo& tensor, const GgmlTypeTraits& traits) {
    std::uint64_t elements = 1;
    for (std::uint64_t extent : tensor.shape) {
      if (extent == 0) throw in_.error("tensor '" + tensor.name + "' has shape " + tensor.shape_text() + " with a zero dimension");
      if (elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / extent) {
        throw in_.error("tensor '" + tensor.name + "' has shape " + tensor.shape_text() + ", too many elements");
      }
      elements *= extent;
    }
    if (tensor.shape[0] % traits.block_elements != 0) {
      throw in_.error("tensor '" + tensor.name + "' of type " + std::string(traits.name) + " has rows of " + std::to_string(tensor.shape[0]) +
                      " elements; expected a multiple of its block size " + std::to_string(traits.block_elements));
    }
    auto bytes = ggml_bytes(tensor.type, elements);
    if (!bytes) throw in_.error("tensor '" + tensor.name + "' has shape " + tensor.shape_text() + ", too large");
    return *bytes;
  }

  ByteReader in_;
};

}  // namespace

void GgufFile::parse_all() {
  Parser parser(bytes_, name_);
  std::uint64_t tensor_count = 0;
  std::uint64_t kv_count = 0;
  version_ = parser.read_header(tensor_count, kv_count);

  metadata_.reserve(kv_count);
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    std::string_view key = parser.read_key(i);
    GgufType type = parser.read_type("the type of '" + std::string(key) + "'");
    GgufValue value = parser.read_value(type, std::string(key));
    if (!metadata_index_.emplace(key, metadata_.size()).second) throw parser.error("metadata key '" + std::string(key) + "' appears twice");
    metadata_.emplace_back(key, std::move(value));
  }
  if (find("general.alignment")) {
    auto alignment = get_uint("general.alignment");
    if (find("general.alignment")->type != GgufType::u32 || *alignment == 0 || !std::has_single_bit(*alignment)) {
      throw GgufError(name_ + ": general.alignment must be a power of two stored as uint32");
    }
    alignment_ = *alignment;
  } else {
    alignment_ = kDefaultAlignment;
  }

  tensors_.reserve(tensor_count);
  for (std::uint64_t i = 0; i < tensor_count; ++i) tensors_.push_back(parser.read_tensor_info(i));
  std::uint64_t end_of_infos = parser.position();
  data_offset_ = (end_of_infos + alignment_ - 1) / alignment_ * alignment_;
  if (tensor_count > 0 && data_offset_ > bytes_.size()) throw GgufError(name_ + ": the file ends before its tensor data begins");

  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensorInfo& tensor = tensors_[i];
    std::uint64_t relative = tensor.file_offset;
    if (relative % alignment_ != 0) {
      throw GgufError(name_ + ": tensor '" + tensor.name + "' starts at data offset " + std::to_string(relative) + ", not a multiple of the alignment " +
                      std::to_string(alignment_));
    }
    std::uint64_t room = bytes_.size() - data_offset_;
    if (relative > room || tensor.bytes > room - relative) {
      throw GgufError(name_ + ": tensor '" + tensor.name + "' (" + std::to_string(tensor.bytes) + " bytes at data offset " + std::to_string(relative) +
                      ") runs past the end of the file (" + std::to_string(room) + " bytes of tensor data); is the file truncated?");
    }
    tensor.file_offset = data_offset_ + relative;
    if (!tensor_index_.emplace(tensor.name, i).second) throw GgufError(name_ + ": tensor '" + tensor.name + "' appears twice");
  }
  // Tensors must not share bytes: each one is a weight of its own.
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& tensor : tensors_) by_offset.push_back(&tensor);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->file_offset < b->file_offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i - 1]->file_offset + by_offset[i - 1]->bytes > by_offset[i]->file_offset) {
      throw GgufError(name_ + ": tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
    }
  }
}

// ---- lookups -------------------------------------------------------------------------------------------

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {

std::string describe(std::string_view key, const GgufValue& value) {
  return "metadata '" + std::string(key) + "' is " + std::string(gguf_type_name(value.type));
}

}  // namespace

std::optional<std::uint64_t> GgufFile::get_uint(std::string_view key) const {
  const GgufValue* value = find(key);
  if (!value) return std::nullopt;
  if (auto u = std::get_if<std::uint64_t>(&value->value)) return *u;
  if (auto i = std::get_if<std::int64_t>(&value->value); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  throw GgufError(name_ + ": " + describe(key, *value) + "; expected a non-negative integer");
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* value = find(key);
  if (!value) return std::nullopt;
  if (auto d = std::get_if<double>(&value->value)) return *d;
  if (auto u = std::get_if<std::uint64_t>(&value->value)) return static_cast<double>(*u);
  if (auto i = std::get_if<std::int64_t>(&value->value)) return static_cast<double>(*i);
  throw GgufError(name_ + ": " + describe(key, *value) + "; expected a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* value = find(key);
  if (!value) return std::nullopt;
  if (auto b = std::get_if<bool>(&value->value)) return *b;
  throw GgufError(name_ + ": " + describe(key, *value) + "; expected a bool");
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufValue* value = find(key);
  if (!value) return std::nullopt;
  if (auto s = std::get_if<std::string_view>(&value->value)) return *s;
  throw GgufError(name_ + ": " + describe(key, *value) + "; expected a string");
}

const GgufArray* GgufFile::get_array(std::string_view key) const {
  const GgufValue* value = find(key);
  if (!value) return nullptr;
  if (auto a = std::get_if<GgufArray>(&value->value)) return a;
  throw GgufError(name_ + ": " + describe(key, *value) + "; expected an array");
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> GgufFile::tensor_bytes(const GgufTensorInfo& tensor) const {
  return bytes_.subspan(tensor.file_offset, tensor.bytes);  // bounds checked at parse time
}

// ---- values --------------------------------------------------------------------------------------------

double GgufArray::number_at(std::uint64_t i) const {
  std::size_t size = fixed_size(element_type);
  if (size == 0 || i >= count) throw GgufError("array element " + std::to_string(i) + " is not a number in range");
  auto number = decode_number(element_type, bytes.data() + i * size);
  return std::visit([](auto v) { return static_cast<double>(v); }, number);
}

std::int64_t GgufArray::integer_at(std::uint64_t i) const {
  std::size_t size = fixed_size(element_type);
  if (size == 0 || i >= count || element_type == GgufType::f32 || element_type == GgufType::f64) {
    throw GgufError("array element " + std::to_string(i) + " is not an integer in range");
  }
  auto number = decode_number(element_type, bytes.data() + i * size);
  if (auto u = std::get_if<std::uint64_t>(&number)) {
    if (*u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) throw GgufError("array element " + std::to_string(i) + " is too large");
    return static_cast<std::int64_t>(*u);
  }
  if (auto b = std::get_if<bool>(&number)) return *b ? 1 : 0;
  return std::get<std::int64_t>(number);
}

std::uint64_t GgufTensorInfo::elements() const {
  std::uint64_t n = 1;
  for (std::uint64_t extent : shape) n *= extent;
  return n;
}

std::string GgufTensorInfo::shape_text() const {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string_view gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::u8: return "uint8";
    case GgufType::i8: return "int8";
    case GgufType::u16: return "uint16";
    case GgufType::i16: return "int16";
    case GgufType::u32: return "uint32";
    case GgufType::i32: return "int32";
    case GgufType::f32: return "float32";
    case GgufType::boolean: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::u64: return "uint64";
    case GgufType::i64: return "int64";
    case GgufType::f64: return "float64";
  }
  return "unknown";
}

}  // namespace mg::engine
