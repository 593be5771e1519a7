#include "core/json_ondemand.h"

#include <charconv>
#include <optional>

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

// The heap budget of the parse running on this thread (charge() finds it there: the Values a parser
// walks exist only inside parse_with_ondemand or read_document, and so does the budget).
class Budget {
 public:
  Budget(std::size_t limit, std::size_t text_bytes) : limit_(limit), text_bytes_(text_bytes), outer_(current_) { current_ = this; }
  ~Budget() { current_ = outer_; }
  Budget(const Budget&) = delete;
  Budget& operator=(const Budget&) = delete;

  static Budget* current() { return current_; }
  std::size_t spent() const { return spent_; }

  void charge(std::size_t bytes) {
    spent_ += bytes;
    if (spent_ <= limit_) return;
    throw SchemaViolation{Error{413, FailureClass::caller_fault, "invalid_request_error", "request_too_complex", {},
                                "the request's JSON would take more than " + std::to_string(limit_ >> 20) + " MiB of memory once parsed (" +
                                    std::to_string(text_bytes_) + " bytes of text); send fewer, larger values",
                                0}};
  }

 private:
  static thread_local Budget* current_;
  std::size_t limit_;
  std::size_t text_bytes_;
  std::size_t spent_ = 0;
  Budget* outer_;
};

thread_local Budget* Budget::current_ = nullptr;

// A UTF-8 byte order mark before the text, which nlohmann skips and simdjson 3.0 does not.
std::string_view without_byte_order_mark(std::string_view text) {
  constexpr std::string_view kMark = "\xEF\xBB\xBF";
  return text.substr(0, kMark.size()) == kMark ? text.substr(kMark.size()) : text;
}

// A parser and a padded copy of the text for one document. Small ones, every stream chunk among them,
// share both per thread: a parser's buffers cost two allocations and a copy one, and the shared
// capacity is kept small so no thread holds a large body's worth.
class ParserLease {
 public:
  ParserLease(std::size_t text_bytes, std::size_t max_bytes) : capacity_(text_bytes) {
    if (text_bytes <= kSharedCapacity && !shared_in_use_) {
      shared_in_use_ = true;
      parser_ = &shared();
      capacity_ = kSharedCapacity;  // allocated once: the same capacity again costs nothing
    } else {
      own_.emplace(max_bytes);
      parser_ = &*own_;
    }
  }
  ~ParserLease() {
    if (!own_) shared_in_use_ = false;
  }
  ParserLease(const ParserLease&) = delete;
  ParserLease& operator=(const ParserLease&) = delete;

  simdjson::ondemand::parser& parser() { return *parser_; }
  simdjson::error_code allocate() { return parser_->allocate(capacity_); }

  // `text` with the zeroed padding simdjson reads past its end, in a buffer kept with the parser.
  simdjson::padded_string_view padded_copy(std::string_view text) {
    std::string& buffer = own_ ? own_buffer_ : shared_buffer();
    buffer.assign(text);
    buffer.append(simdjson::SIMDJSON_PADDING, '\0');
    return simdjson::padded_string_view(buffer.data(), text.size(), buffer.size());
  }

 private:
  static constexpr std::size_t kSharedCapacity = 64 * 1024;
  static simdjson::ondemand::parser& shared() {
    thread_local simdjson::ondemand::parser parser(kSharedCapacity);
    return parser;
  }
  static std::string& shared_buffer() {
    thread_local std::string buffer;  // holds small documents only, so it stays small
    return buffer;
  }
  static thread_local bool shared_in_use_;  // a document read while another is open gets its own

  std::size_t capacity_;
  std::optional<simdjson::ondemand::parser> own_;
  std::string own_buffer_;
  simdjson::ondemand::parser* parser_ = nullptr;
};

thread_local bool ParserLease::shared_in_use_ = false;

// Runs `read` over the document of `text` (and the text's end, where the document's tokens point),
// reporting what goes wrong as an Error. `read` returns whether it has checked itself that nothing
// follows the value (simdjson cannot, for a scalar root).
Status with_document(std::string_view text, const Limits& limits, std::size_t* parsed_bytes,
                     const std::function<bool(simdjson::ondemand::document&, const char* end)>& read) {
  if (text.size() > limits.max_body_bytes) return syntax_error("it is larger than " + std::to_string(limits.max_body_bytes) + " bytes", -1);
  text = without_byte_order_mark(text);
  ParserLease lease(text.size(), limits.max_body_bytes);
  simdjson::ondemand::parser& parser = lease.parser();
  if (auto error = lease.allocate()) return syntax_error(describe(error), -1);
  simdjson::padded_string_view padded = lease.padded_copy(text);
  simdjson::ondemand::document document;
  Budget budget(limits.max_parsed_bytes, text.size());
  auto report_spent = [&] {
    if (parsed_bytes) *parsed_bytes = budget.spent();
  };
  try {
    if (auto error = parser.iterate(padded).get(document)) return syntax_error(describe(error), -1);
    const bool whole = read(document, padded.data() + padded.size());
    report_spent();
    const char* rest = nullptr;
    if (!whole && document.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return syntax_error("there are bytes after the JSON value", rest ? rest - padded.data() : -1);
    return Ok{};
  } catch (const SchemaViolation& violation) {
    report_spent();
    return violation.error;
  } catch (const simdjson::simdjson_error& e) {
    report_spent();
    std::int64_t offset = -1;
    if (const char* at = nullptr; !document.current_location().get(at)) offset = at - padded.data();
    return syntax_error(describe(e.error()), offset);
  }
}

// A scalar's token as simdjson gives it runs up to the next token, the whitespace between included.
std::string_view without_trailing_space(std::string_view token) { return token.substr(0, token.find_last_not_of(" \t\r\n") + 1); }

// RFC 8259's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view token) {
  std::size_t at = 0;
  auto digits = [&] {
    const std::size_t start = at;
    while (at < token.size() && token[at] >= '0' && token[at] <= '9') ++at;
    return at > start;
  };
  if (at < token.size() && token[at] == '-') ++at;
  if (at < token.size() && token[at] == '0') ++at;
  else if (!digits()) return false;
  if (at < token.size() && token[at] == '.' && (++at, !digits())) return false;
  if (at < token.size() && (token[at] == 'e' || token[at] == 'E')) {
    ++at;
    if (at < token.size() && (token[at] == '+' || token[at] == '-')) ++at;
    if (!digits()) return false;
  }
  return at == token.size();
}

// A double for a number token; nullopt past a double's range. An underflow reads as 0, as strtod has it.
std::optional<double> token_double(std::string_view token) {
  double value = 0;
  auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (error == std::errc()) return value;
  const std::size_t exponent = token.find_first_of("eE");
  const bool tiny = exponent != std::string_view::npos && token.substr(exponent + 1, 1) == "-";
  if (tiny) return token.front() == '-' ? -0.0 : 0.0;
  return std::nullopt;
}

// A number token as nlohmann reads it: an integer is unsigned unless written with a minus sign ("-0"
// too); a fraction, an exponent or an integer beyond 64 bits is a double; past a double's range it is
// not a number. The value comes from the token simdjson found, not from simdjson's own number reading,
// which in 3.0.1 misreads some long mantissas (0.40009074020526895765 as 0.0311...), refuses exponents
// of 20 digits and more, and reads a root number followed by many spaces as a double.
json number_from_token(std::string_view token) {
  token = without_trailing_space(token);
  if (!is_json_number(token)) throw simdjson::simdjson_error(simdjson::NUMBER_ERROR);
  const char* end = token.data() + token.size();
  if (token.find_first_of(".eE") == std::string_view::npos) {
    std::int64_t as_signed = 0;
    std::uint64_t as_unsigned = 0;
    if (token.front() == '-' && std::from_chars(token.data(), end, as_signed).ec == std::errc()) return as_signed;
    if (token.front() != '-' && std::from_chars(token.data(), end, as_unsigned).ec == std::errc()) return as_unsigned;
  }
  std::optional<double> value = token_double(token);
  if (!value) throw simdjson::simdjson_error(simdjson::NUMBER_OUT_OF_RANGE);
  return *value;
}

// A document whose root is a scalar: simdjson reads those from the document itself, not as a Value.
// The scalar's token runs to the next token or to the end: it must run to the end.
json scalar_document(simdjson::ondemand::document& document, const char* end) {
  std::string_view token = document.raw_json_token();
  if (token.data() + token.size() != end) throw simdjson::simdjson_error(simdjson::TRAILING_CONTENT);
  switch (document.type()) {
    case json_type::number: return number_from_token(token);
    case json_type::string: return std::string(document.get_string().value());
    case json_type::boolean:
    case json_type::null: {  // simdjson 3.0 reads a root literal followed by junk ("false9") or whitespace wrongly
      std::string_view literal = without_trailing_space(token);
      if (literal == "null") return nullptr;
      if (literal == "true" || literal == "false") return literal == "true";
      throw simdjson::simdjson_error(simdjson::T_ATOM_ERROR);
    }
    default: break;
  }
  throw simdjson::simdjson_error(simdjson::INCORRECT_TYPE);
}

}  // namespace

Status parse_with_ondemand(std::string_view body, const Limits& limits, const std::function<void(Value)>& read_root, std::size_t* parsed_bytes) {
  return with_document(body, limits, parsed_bytes, [&](simdjson::ondemand::document& document, const char*) {
    json_type type = document.type();
    if (type != json_type::object) {
      throw SchemaViolation{Error::invalid_request(std::string("'body' must be a JSON object; got ") +
                                                   (type == json_type::array ? "an array" : "a scalar"), "body", "invalid_type")};
    }
    read_root(document.get_value());
    return false;
  });
}

Result<nlohmann::json> read_document(std::string_view text, const Limits& limits, std::size_t* parsed_bytes) {
  json out;
  Status read = with_document(text, limits, parsed_bytes, [&](simdjson::ondemand::document& document, const char* end) {
    json_type type = document.type();
    if (type == json_type::object || type == json_type::array) {
      out = as_dom(document.get_value());
      return false;
    }
    out = scalar_document(document, end);
    return true;
  });
  if (!read) return read.error();
  return out;
}

void charge(std::size_t bytes) {
  if (Budget* budget = Budget::current()) budget->charge(bytes);
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
  mg::wrong_type(name.empty() ? "body" : name, expected, as_dom(got));
}

std::string string(Value value, const Path& path) {
  if (value.type() != json_type::string) wrong_type(path, "a string", value);
  std::string_view text = value.get_string().value();
  charge(HeapCost::string_buffer(text.size()));
  return std::string(text);
}

bool boolean(Value value, const Path& path) {
  if (value.type() != json_type::boolean) wrong_type(path, "a boolean", value);
  return value.get_bool();
}

double number(Value value, const Path& path, double min, double max) {
  if (value.type() != json_type::number) wrong_type(path, "a number", value);
  double got = number_from_token(value.raw_json_token()).get<double>();
  if (got < min || got > max) {
    violate(path, "must be between " + json(min).dump() + " and " + json(max).dump() + "; got " + json(got).dump());
  }
  return got;
}

std::int64_t integer(Value value, const Path& path, std::int64_t min, std::int64_t max) {
  if (value.type() != json_type::number) wrong_type(path, "an integer", value);
  json read = number_from_token(value.raw_json_token());
  const bool fits = read.is_number_integer() && !(read.is_number_unsigned() && read.get<std::uint64_t>() > INT64_MAX);
  if (!fits) violate(path, "must be an integer between " + std::to_string(min) + " and " + std::to_string(max));
  const std::int64_t got = read.get<std::int64_t>();
  if (got < min || got > max) {
    violate(path, "must be between " + std::to_string(min) + " and " + std::to_string(max) + "; got " + std::to_string(got));
  }
  return got;
}

json as_dom(Value value) {
  switch (value.type()) {
    case json_type::object: {
      charge(HeapCost::dom_object());
      json out = json::object();
      for (simdjson::ondemand::field member : value.get_object()) set_member(out, member.unescaped_key().value(), member.value());
      return out;
    }
    case json_type::array: {
      charge(HeapCost::dom_array());
      json out = json::array();
      json::array_t& elements = out.get_ref<json::array_t&>();
      for (Value element : value.get_array()) {
        charge_slot(elements);
        elements.push_back(as_dom(element));
      }
      return out;
    }
    case json_type::number: return number_from_token(value.raw_json_token());  // left unread: the walk skips it
    case json_type::string: {
      std::string_view text = value.get_string().value();
      charge(HeapCost::dom_string(text.size()));
      return std::string(text);
    }
    case json_type::boolean: return value.get_bool().value();
    case json_type::null:
      if (!value.is_null()) throw simdjson::simdjson_error(simdjson::N_ATOM_ERROR);
      return nullptr;
  }
  return nullptr;
}

void set_member(json& object, std::string_view key, Value value) {
  charge(HeapCost::dom_member(key.size()));
  object[std::string(key)] = as_dom(value);
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
    case json_type::number: number_from_token(value.raw_json_token()); return;
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
