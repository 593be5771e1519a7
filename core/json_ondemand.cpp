#include "core/json_ondemand.h"

namespace mg::ondemand {
namespace {

using simdjson::ondemand::json_type;
using nlohmann::json;

Error syntax_error(const std::string& what, std::int64_t offset) {
  std::string message = "request body is not valid JSON: " + what;
  if (offset >= 0) message += " (near byte " + std::to_string(offset) + ")";
  return Error::invalid_request(std::move(message), {}, "invalid_json");
}

// What simdjson says, in the words our other parser uses for the same faults.
std::string describe(simdjson::error_code code) {
  switch (code) {
    case simdjson::UTF8_ERROR: return "a string is not valid UTF-8";
    case simdjson::UNCLOSED_STRING: return "a string is not closed";
    case simdjson::STRING_ERROR: return "a string has an invalid escape or control character";
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE: return "a number is malformed or out of range";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
    case simdjson::INCORRECT_TYPE: return "a literal is not true, false or null";  // we check types first: only a malformed token reads as the wrong one
    case simdjson::EMPTY: return "it is empty";
    default: return simdjson::error_message(code);
  }
}

}  // namespace

Status parse_with_ondemand(std::string_view body, const Limits& limits, const std::function<void(Value)>& read_root) {
  if (body.size() > limits.max_body_bytes) return syntax_error("it is larger than " + std::to_string(limits.max_body_bytes) + " bytes", -1);
  simdjson::ondemand::parser parser(limits.max_body_bytes);
  if (auto error = parser.allocate(body.size())) return syntax_error(describe(error), -1);
  simdjson::padded_string padded(body);
  simdjson::ondemand::document document;
  try {
    if (auto error = parser.iterate(padded).get(document)) return syntax_error(describe(error), -1);
    json_type type = document.type();
    if (type != json_type::object) {
      throw SchemaViolation{Error::invalid_request(std::string("the request body must be a JSON object; got ") +
                                                   (type == json_type::array ? "an array" : "a scalar"), {}, "invalid_type")};
    }
    read_root(document.get_value());
    const char* rest = nullptr;
    if (document.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return syntax_error("there are bytes after the JSON value", rest ? rest - padded.data() : -1);
    return Ok{};
  } catch (const SchemaViolation& violation) {
    return violation.error;
  } catch (const simdjson::simdjson_error& e) {
    std::int64_t offset = -1;
    if (const char* at = nullptr; !document.current_location().get(at)) offset = at - padded.data();
    return syntax_error(describe(e.error()), offset);
  }
}

std::string Path::str() const {
  if (!parent_) return {};
  std::string out = parent_->str();
  if (index_ != kNoIndex) return out + "[" + std::to_string(index_) + "]";
  if (!out.empty()) out += '.';
  out += key_;
  return out;
}

bool is_null(Value& value) { return value.type() == json_type::null && value.is_null(); }

const char* type_name(Value& value) {
  switch (value.type()) {
    case json_type::array: return "array";
    case json_type::object: return "object";
    case json_type::number: return "number";
    case json_type::string: return "string";
    case json_type::boolean: return "boolean";
    case json_type::null: return "null";
  }
  return "value";
}

void wrong_type(const Path& path, const char* expected, Value& got) {
  std::string name = path.str();
  if (name.empty()) name = "body";
  throw SchemaViolation{Error::invalid_request("'" + name + "' must be " + expected + "; got " + type_name(got), name, "invalid_type")};
}

std::string string(Value value, const Path& path) {
  if (value.type() != json_type::string) wrong_type(path, "a string", value);
  return std::string(value.get_string().value());
}

bool boolean(Value value, const Path& path) {
  if (value.type() != json_type::boolean) wrong_type(path, "a boolean", value);
  return value.get_bool();
}

double number(Value value, const Path& path, double min, double max) {
  if (value.type() != json_type::number) wrong_type(path, "a number", value);
  double got = value.get_double();
  if (got < min || got > max) {
    violate(path, "must be between " + json(min).dump() + " and " + json(max).dump() + "; got " + json(got).dump());
  }
  return got;
}

std::int64_t integer(Value value, const Path& path, std::int64_t min, std::int64_t max) {
  if (value.type() != json_type::number) wrong_type(path, "an integer", value);
  std::int64_t got = 0;
  if (value.get_int64().get(got)) violate(path, "must be an integer between " + std::to_string(min) + " and " + std::to_string(max));
  if (got < min || got > max) {
    violate(path, "must be between " + std::to_string(min) + " and " + std::to_string(max) + "; got " + std::to_string(got));
  }
  return got;
}

json as_dom(Value value) {
  switch (value.type()) {
    case json_type::object: {
      json out = json::object();
      for (simdjson::ondemand::field member : value.get_object()) {
        std::string key(member.unescaped_key().value());
        out[std::move(key)] = as_dom(member.value());
      }
      return out;
    }
    case json_type::array: {
      json out = json::array();
      for (Value element : value.get_array()) out.push_back(as_dom(element));
      return out;
    }
    case json_type::number: {
      // A successful get_* consumes the value, a failed one does not: integers first, then a double
      // (a fraction, an exponent, or an integer beyond 64 bits, as nlohmann reads them), which throws
      // for what JSON's grammar or a double cannot hold ("01", "1.", "1e400").
      simdjson::ondemand::number_type type{};
      if (value.get_number_type().get(type)) throw simdjson::simdjson_error(simdjson::NUMBER_ERROR);
      std::int64_t as_signed = 0;
      std::uint64_t as_unsigned = 0;
      if (type == simdjson::ondemand::number_type::signed_integer && !value.get_int64().get(as_signed)) return as_signed;
      if (type == simdjson::ondemand::number_type::unsigned_integer && !value.get_uint64().get(as_unsigned)) return as_unsigned;
      return value.get_double().value();
    }
    case json_type::string: return std::string(value.get_string().value());
    case json_type::boolean: return value.get_bool().value();
    case json_type::null:
      if (!value.is_null()) throw simdjson::simdjson_error(simdjson::N_ATOM_ERROR);
      return nullptr;
  }
  return nullptr;
}

void validate(Value value) {
  switch (value.type()) {
    case json_type::object:
      for (simdjson::ondemand::field member : value.get_object()) {
        member.unescaped_key().value();
        validate(member.value());
      }
      return;
    case json_type::array:
      for (Value element : value.get_array()) validate(element);
      return;
    case json_type::number: value.get_double().value(); return;  // throws for what JSON's grammar or a double cannot hold
    case json_type::string: value.get_string().value(); return;
    case json_type::boolean: value.get_bool().value(); return;
    case json_type::null:
      if (!value.is_null()) throw simdjson::simdjson_error(simdjson::N_ATOM_ERROR);
      return;
  }
}

void for_each_field(Value value, const Path& path, const std::function<void(std::string_view key, Value field, const Path& field_path)>& on_field) {
  if (value.type() != json_type::object) wrong_type(path, "an object", value);
  for (simdjson::ondemand::field member : value.get_object()) {
    std::string_view key = member.unescaped_key();
    on_field(key, member.value(), Path(path, key));
  }
}

void for_each_element(Value value, const Path& path, const std::function<void(Value element, const Path& element_path)>& on_element) {
  if (value.type() != json_type::array) wrong_type(path, "an array", value);
  std::size_t index = 0;
  for (Value element : value.get_array()) on_element(element, Path(path, index++));
}

}  // namespace mg::ondemand
