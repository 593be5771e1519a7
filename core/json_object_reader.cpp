#include "core/json_object_reader.h"

#include <cmath>

namespace mg {

using nlohmann::json;

namespace {

std::string describe(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return std::string(value.type_name()) + " " + text;
}

std::string format_bound(double bound) {
  if (bound == std::floor(bound) && std::abs(bound) < 1e15) return std::to_string(static_cast<long long>(bound));
  return json(bound).dump();
}

}  // namespace

void violate(const std::string& path, const std::string& message) {
  throw SchemaViolation{Error::invalid_request("'" + path + "' " + message, path)};
}

void wrong_type(const std::string& path, const char* expected, const json& got) {
  throw SchemaViolation{Error::invalid_request("'" + path + "' must be " + expected + "; got " + describe(got), path, "invalid_type")};
}

std::string index_path(const std::string& path, std::size_t index) { return path + "[" + std::to_string(index) + "]"; }

ObjectReader::ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
  if (!object_.is_object()) wrong_type(path_.empty() ? "body" : path_, "an object", object_);
}

std::string ObjectReader::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const json* ObjectReader::find(std::string_view key) {
  auto it = object_.find(key);
  if (it == object_.end()) return nullptr;
  read_.push_back(&it.key());
  if (it->is_null()) return nullptr;
  return &*it;
}

const json& ObjectReader::require(std::string_view key) {
  const json* value = find(key);
  if (!value) violate(path_of(key), "is required");
  return *value;
}

std::optional<std::string> ObjectReader::string(std::string_view key) {
  const json* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_string()) wrong_type(path_of(key), "a string", *value);
  return value->get<std::string>();
}

std::string ObjectReader::required_string(std::string_view key) {
  require(key);
  return *string(key);
}

std::optional<bool> ObjectReader::boolean(std::string_view key) {
  const json* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) wrong_type(path_of(key), "a boolean", *value);
  return value->get<bool>();
}

std::optional<double> ObjectReader::number(std::string_view key, double min, double max) {
  const json* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_number()) wrong_type(path_of(key), "a number", *value);
  double number = value->get<double>();
  if (!(number >= min && number <= max)) {
    violate(path_of(key), "must be between " + format_bound(min) + " and " + format_bound(max) + "; got " + value->dump());
  }
  return number;
}

std::optional<std::int64_t> ObjectReader::integer(std::string_view key, std::int64_t min, std::int64_t max) {
  const json* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_number_integer()) wrong_type(path_of(key), "an integer", *value);
  bool too_big = value->is_number_unsigned() && value->get<std::uint64_t>() > static_cast<std::uint64_t>(max);
  std::int64_t number = too_big ? max : value->get<std::int64_t>();
  if (too_big || number < min || number > max) {
    violate(path_of(key), "must be between " + std::to_string(min) + " and " + std::to_string(max) + "; got " + value->dump());
  }
  return number;
}

std::optional<int> ObjectReader::small_integer(std::string_view key, int min, int max) {
  auto value = integer(key, min, max);
  if (!value) return std::nullopt;
  return static_cast<int>(*value);
}

std::vector<std::string> ObjectReader::string_list(std::string_view key) {
  std::vector<std::string> out;
  const json* value = find(key);
  if (!value) return out;
  if (!value->is_array()) wrong_type(path_of(key), "an array of strings", *value);
  for (std::size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!item.is_string()) wrong_type(index_path(path_of(key), i), "a string", item);
    out.push_back(item.get<std::string>());
  }
  return out;
}

void violate_not_one_of(const std::string& path, const std::string& got, const std::vector<std::string>& allowed) {
  std::string list;
  for (const std::string& option : allowed) list += (list.empty() ? "" : ", ") + option;
  violate(path, "must be one of " + list + "; got \"" + got + "\"");
}

json ObjectReader::unread() const {
  json rest = json::object();
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (std::find(read_.begin(), read_.end(), &it.key()) == read_.end()) rest[it.key()] = it.value();
  }
  return rest;
}

void ObjectReader::reject_unread() const {
  json rest = unread();
  if (!rest.empty()) violate(path_of(rest.begin().key()), "is not a known setting");
}

}  // namespace mg
