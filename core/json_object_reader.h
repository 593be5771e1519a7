// Typed, path-aware reading of untrusted JSON objects, shared by the request parser and the config loader.
// A violation is thrown as SchemaViolation and must be caught by the one function that owns the parse
// (parse_chat_request, load_config_file); it never crosses an API boundary.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace mg {

struct SchemaViolation {
  Error error;
};

[[noreturn]] void violate(const std::string& path, const std::string& message);
[[noreturn]] void wrong_type(const std::string& path, const char* expected, const nlohmann::json& got);
std::string index_path(const std::string& path, std::size_t index);
// "'path' must be one of a, b, c; got \"x\"".
[[noreturn]] void violate_not_one_of(const std::string& path, const std::string& got, const std::vector<std::string>& allowed);

class ObjectReader {
 public:
  // Throws SchemaViolation when `object` is not an object. `path` names it in errors ("" for the root).
  ObjectReader(const nlohmann::json& object, std::string path);

  const std::string& path() const { return path_; }
  std::string path_of(std::string_view key) const;

  // The member, or nullptr when absent or null (OpenAI treats null as "not set"). Marks it as read.
  const nlohmann::json* find(std::string_view key);
  const nlohmann::json& require(std::string_view key);

  std::optional<std::string> string(std::string_view key);
  std::string required_string(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<double> number(std::string_view key, double min, double max);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<int> small_integer(std::string_view key, int min, int max);
  std::vector<std::string> string_list(std::string_view key);

  template <std::size_t N>
  std::optional<std::string> one_of(std::string_view key, const std::array<const char*, N>& allowed) {
    auto value = string(key);
    if (value && std::find(allowed.begin(), allowed.end(), *value) == allowed.end()) {
      violate_not_one_of(path_of(key), *value, std::vector<std::string>(allowed.begin(), allowed.end()));
    }
    return value;
  }

  // Members no accessor has read, for pass-through.
  nlohmann::json unread() const;
  // Throws naming the first member no accessor has read (for closed schemas such as the config file).
  void reject_unread() const;

 private:
  const nlohmann::json& object_;
  std::string path_;
  std::vector<const std::string*> read_;  // keys of the members read, the object's own (no copies per lookup)
};

}  // namespace mg
