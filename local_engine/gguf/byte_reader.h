// A cursor over untrusted bytes: every read checks that the bytes are there, and every count is checked
// against what the remaining bytes could hold before anything is allocated for it. Failures are
// GgufErrors that say what was being read and at which byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "local_engine/gguf/gguf_file.h"

namespace mg::engine {

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  std::uint64_t position() const { return position_; }
  std::uint64_t remaining() const { return bytes_.size() - position_; }

  GgufError error(std::string_view what) const {
    return GgufError(name_ + ": at byte " + std::to_string(position_) + ": " + std::string(what));
  }

  // The next `count` bytes, or a GgufError naming `what` when the file ends first.
  const std::byte* take(std::uint64_t count, std::string_view what) {
    if (count > remaining()) {
      throw error("the file ends inside " + std::string(what) + " (" + std::to_string(count) + " bytes needed, " + std::to_string(remaining()) +
                  " left); is it truncated?");
    }
    const std::byte* at = bytes_.data() + position_;
    position_ += count;
    return at;
  }

  void skip(std::uint64_t count) { take(count, "the header"); }

  std::uint32_t peek_u32() const {
    std::uint32_t value = 0;
    if (remaining() >= sizeof value) std::memcpy(&value, bytes_.data() + position_, sizeof value);
    return value;
  }

  template <typename T>
  T read(std::string_view what) {
    T value;
    std::memcpy(&value, take(sizeof value, what), sizeof value);
    return value;
  }

  // A GGUF string: a uint64 length, then that many bytes (not NUL-terminated, not checked as UTF-8).
  std::string_view read_string(std::string_view what) {
    auto length = read<std::uint64_t>(what);
    return {reinterpret_cast<const char*>(take(length, what)), static_cast<std::size_t>(length)};
  }

  // Rejects a count of items that could not fit in the remaining bytes at `min_bytes_each` each.
  void check_count(std::uint64_t count, std::uint64_t min_bytes_each, std::string_view what) const {
    if (min_bytes_each > 0 && count > remaining() / min_bytes_each) {
      throw error("the file claims " + std::to_string(count) + " " + std::string(what) + ", more than its remaining " + std::to_string(remaining()) +
                  " bytes can hold: the file is truncated or corrupted");
    }
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& name_;
  std::uint64_t position_ = 0;
};

}  // namespace mg::engine
