#include "local_engine/sampling/json_grammar.h"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

#include "local_engine/chat/python_json.h"

namespace mg::engine {
namespace {

constexpr std::array kAnnotations{"description", "title", "default", "examples", "format", "$schema", "$comment"};
constexpr std::array kKeywords{"type",     "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
                               "minLength", "maxLength", "enum",     "const",                "anyOf", "oneOf"};

bool one_of(std::string_view key, std::span<const char* const> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* name) { return key == name; });
}

std::uint32_t bound(const PythonJsonValue& schema, const char* key, std::uint32_t fallback, std::uint32_t most) {
  const PythonJsonValue* value = schema.find(key);
  if (!value) return fallback;
  if (value->kind != PythonJsonValue::Kind::literal || value->text.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument(std::string("json_schema: ") + key + " must be a whole number");
  }
  unsigned long long number = std::stoull(value->text);
  if (number > most) throw std::invalid_argument(std::string("json_schema: ") + key + " above " + std::to_string(most) + " is not supported");
  return static_cast<std::uint32_t>(number);
}

GrammarNode literals(std::vector<std::string> texts) {
  if (texts.empty() || texts.size() > 64) throw std::invalid_argument("json_schema: enum must have 1 to 64 values");
  GrammarNode node;
  node.kind = GrammarNode::Kind::literals;
  node.literals = std::move(texts);
  return node;
}

}  // namespace

JsonGrammar::JsonGrammar() {
  GrammarNode key;
  key.kind = GrammarNode::Kind::string;
  key_ = add(key);
  // Any value: one alternative per type, told apart by the first byte. Containers hold `any_` again.
  GrammarNode object;
  object.kind = GrammarNode::Kind::free_object;
  GrammarNode array;
  array.kind = GrammarNode::Kind::array;
  GrammarNode string;
  string.kind = GrammarNode::Kind::string;
  GrammarNode number;
  number.kind = GrammarNode::Kind::number;
  std::vector<int> alternatives = {add(object), add(array), add(string), add(number), add(literals({"true", "false", "null"}))};
  any_ = choice_of(alternatives, "any value");
  nodes_[static_cast<std::size_t>(alternatives[1])].items = any_;
}

std::shared_ptr<const JsonGrammar> JsonGrammar::any_object() {
  auto grammar = std::shared_ptr<JsonGrammar>(new JsonGrammar());
  grammar->root_ = grammar->node(grammar->any_).alternatives[0];
  return grammar;
}

std::shared_ptr<const JsonGrammar> JsonGrammar::from_schema(std::string_view schema_text) {
  std::optional<PythonJsonValue> schema = parse_python_json(schema_text);
  if (!schema) throw std::invalid_argument("json_schema: the schema is not valid JSON");
  auto grammar = std::shared_ptr<JsonGrammar>(new JsonGrammar());
  grammar->root_ = grammar->compile(*schema, 0);
  return grammar;
}

std::shared_ptr<const JsonGrammar> JsonGrammar::tool_calls(const std::vector<ToolSchema>& tools, std::uint32_t max_calls) {
  if (tools.empty()) throw std::invalid_argument("tool calls need at least one tool");
  auto grammar = std::shared_ptr<JsonGrammar>(new JsonGrammar());
  std::vector<std::pair<std::string, int>> calls;  // (name, arguments node)
  for (const ToolSchema& tool : tools) {
    std::optional<PythonJsonValue> parameters = parse_python_json(tool.parameters.empty() ? "{}" : tool.parameters);
    if (!parameters) throw std::invalid_argument("tool '" + tool.name + "': its parameters are not valid JSON");
    const bool open = parameters->is_object() && parameters->members.empty();  // {}: any arguments object
    calls.emplace_back(tool.name, open ? grammar->node(grammar->any_).alternatives[0] : grammar->compile(*parameters, 1));
  }
  std::sort(calls.begin(), calls.end());
  GrammarNode call;
  call.kind = GrammarNode::Kind::sequence;
  call.parts = {{"{\"name\":\"", -1}, {"", grammar->call_named(calls, 0)}};
  GrammarNode list;
  list.kind = GrammarNode::Kind::array;
  list.items = grammar->add(std::move(call));
  list.min_items = 1;
  list.max_items = std::max(1u, max_calls);
  grammar->root_ = grammar->add(std::move(list));
  return grammar;
}

// What follows `{"name":"` plus the first `common` bytes every call's name shares: the rest of one of the
// names, told apart byte by byte where they part, then its arguments.
int JsonGrammar::call_named(const std::vector<std::pair<std::string, int>>& calls, std::size_t common) {
  if (calls.size() == 1) {
    const auto& [name, arguments] = calls.front();
    std::string rest = dump_python_json(PythonJsonValue::string(name));  // quoted and escaped as JSON
    rest = rest.substr(1 + common) + ",\"arguments\":";
    GrammarNode tail;
    tail.kind = GrammarNode::Kind::sequence;
    tail.parts = {{rest, -1}, {"", arguments}, {"}", -1}};
    return add(std::move(tail));
  }
  std::vector<int> alternatives;
  for (std::size_t i = 0; i < calls.size();) {
    // The calls whose names go on with the same byte (or end here: the closing quote comes next).
    auto next_byte = [&](const std::string& name) { return common < name.size() ? name[common] : '"'; };
    std::size_t j = i;
    while (j < calls.size() && next_byte(calls[j].first) == next_byte(calls[i].first)) ++j;
    std::vector<std::pair<std::string, int>> group(calls.begin() + static_cast<std::ptrdiff_t>(i), calls.begin() + static_cast<std::ptrdiff_t>(j));
    if (group.size() == 1 || common >= group.front().first.size()) {
      alternatives.push_back(call_named({group.front()}, common));
    } else {
      GrammarNode step;
      step.kind = GrammarNode::Kind::sequence;
      step.parts = {{std::string(1, next_byte(group.front().first)), -1}, {"", call_named(group, common + 1)}};
      alternatives.push_back(add(std::move(step)));
    }
    i = j;
  }
  return choice_of(std::move(alternatives), "tool names");
}

int JsonGrammar::add(GrammarNode node) {
  set_first(node);
  nodes_.push_back(std::move(node));
  return static_cast<int>(nodes_.size() - 1);
}

void JsonGrammar::set_first(GrammarNode& node) const {
  switch (node.kind) {
    case GrammarNode::Kind::sequence: node.first.set(static_cast<unsigned char>(node.parts.front().text.front())); break;
    case GrammarNode::Kind::array: node.first.set('['); break;
    case GrammarNode::Kind::free_object: node.first.set('{'); break;
    case GrammarNode::Kind::string: node.first.set('"'); break;
    case GrammarNode::Kind::number:
    case GrammarNode::Kind::integer:
      for (unsigned char c : std::string_view("-0123456789")) node.first.set(c);
      break;
    case GrammarNode::Kind::literals:
      for (const std::string& text : node.literals) node.first.set(static_cast<unsigned char>(text.front()));
      break;
    case GrammarNode::Kind::choice:
      for (int alternative : node.alternatives) node.first |= nodes_[static_cast<std::size_t>(alternative)].first;
      break;
  }
  node.container = node.first.test('{') || node.first.test('[');
}

int JsonGrammar::choice_of(std::vector<int> alternatives, const std::string& where) {
  if (alternatives.size() == 1) return alternatives.front();
  std::bitset<256> seen;
  for (int alternative : alternatives) {
    const std::bitset<256>& first = node(alternative).first;
    if ((seen & first).any()) throw std::invalid_argument("json_schema: the alternatives of " + where + " must begin with different characters");
    seen |= first;
  }
  GrammarNode choice;
  choice.kind = GrammarNode::Kind::choice;
  choice.alternatives = std::move(alternatives);
  return add(std::move(choice));
}

int JsonGrammar::compile(const PythonJsonValue& schema, std::size_t depth) {
  if (depth >= kMaxJsonDepth - 2) throw std::invalid_argument("json_schema: nested deeper than " + std::to_string(kMaxJsonDepth - 2) + " levels");
  if (schema.kind == PythonJsonValue::Kind::literal && schema.text == "true") return any_;
  if (!schema.is_object()) throw std::invalid_argument("json_schema: a schema must be an object");
  for (const auto& [key, value] : schema.members) {
    if (!one_of(key, kKeywords) && !one_of(key, kAnnotations)) throw std::invalid_argument("json_schema: the keyword '" + key + "' is not supported");
  }
  if (const PythonJsonValue* constant = schema.find("const")) return add(literals({dump_python_json(*constant)}));
  if (const PythonJsonValue* values = schema.find("enum")) {
    if (!values->is_array()) throw std::invalid_argument("json_schema: enum must be an array");
    std::vector<std::string> texts;
    for (const PythonJsonValue& value : values->items) texts.push_back(dump_python_json(value));
    return add(literals(std::move(texts)));
  }
  for (const char* combinator : {"anyOf", "oneOf"}) {
    if (const PythonJsonValue* list = schema.find(combinator)) {
      if (!list->is_array() || list->items.empty()) throw std::invalid_argument(std::string("json_schema: ") + combinator + " must be a non-empty array");
      std::vector<int> alternatives;
      for (const PythonJsonValue& alternative : list->items) alternatives.push_back(compile(alternative, depth + 1));
      return choice_of(std::move(alternatives), combinator);
    }
  }
  const PythonJsonValue* type = schema.find("type");
  if (!type) return schema.find("properties") ? compile_typed(schema, "object", depth) : any_;
  if (type->is_string()) return compile_typed(schema, type->text, depth);
  if (!type->is_array()) throw std::invalid_argument("json_schema: type must be a string or an array of strings");
  std::vector<int> alternatives;
  for (const PythonJsonValue& name : type->items) {
    if (!name.is_string()) throw std::invalid_argument("json_schema: type must be a string or an array of strings");
    alternatives.push_back(compile_typed(schema, name.text, depth));
  }
  return choice_of(std::move(alternatives), "type");
}

int JsonGrammar::compile_typed(const PythonJsonValue& schema, const std::string& type, std::size_t depth) {
  GrammarNode node;
  if (type == "object") {
    if (const PythonJsonValue* extra = schema.find("additionalProperties"); extra && extra->text != "false" && extra->kind != PythonJsonValue::Kind::object) {
      if (extra->text != "true") throw std::invalid_argument("json_schema: additionalProperties must be a boolean or a schema");
    }
    const PythonJsonValue* properties = schema.find("properties");
    if (!properties) {
      node.kind = GrammarNode::Kind::free_object;
      return add(std::move(node));
    }
    if (!properties->is_object()) throw std::invalid_argument("json_schema: properties must be an object");
    node.kind = GrammarNode::Kind::sequence;
    std::string text = "{";
    for (const auto& [name, property] : properties->members) {
      text += (text == "{" ? "" : ",") + dump_python_json(PythonJsonValue::string(name)) + ":";
      node.parts.push_back({text, -1});
      node.parts.push_back({"", compile(property, depth + 1)});
      text.clear();
    }
    node.parts.push_back({text + "}", -1});
    return add(std::move(node));
  }
  if (type == "array") {
    node.kind = GrammarNode::Kind::array;
    const PythonJsonValue* items = schema.find("items");
    node.items = items ? compile(*items, depth + 1) : any_;
    node.min_items = bound(schema, "minItems", 0, 64);
    node.max_items = bound(schema, "maxItems", std::max(node.min_items, kDefaultMaxItems), 64);
    if (node.max_items < node.min_items) throw std::invalid_argument("json_schema: maxItems is below minItems");
    return add(std::move(node));
  }
  if (type == "string") {
    node.kind = GrammarNode::Kind::string;
    node.min_length = bound(schema, "minLength", 0, 4096);
    node.max_length = bound(schema, "maxLength", std::max(node.min_length, kDefaultMaxLength), 4096);
    if (node.max_length < node.min_length) throw std::invalid_argument("json_schema: maxLength is below minLength");
    return add(std::move(node));
  }
  if (type == "number" || type == "integer") {
    node.kind = type == "number" ? GrammarNode::Kind::number : GrammarNode::Kind::integer;
    return add(std::move(node));
  }
  if (type == "boolean") return add(literals({"true", "false"}));
  if (type == "null") return add(literals({"null"}));
  throw std::invalid_argument("json_schema: unknown type '" + type + "'");
}

// ---- the matcher ----------------------------------------------------------------------------------

JsonMatcher::JsonMatcher(const JsonGrammar& grammar) : grammar_(&grammar) { push(grammar_->root()); }

JsonMatcher::Frame JsonMatcher::start(int node) const {
  Frame frame{static_cast<std::uint32_t>(node), 0, 0, 0, 0, 0, 0};
  const GrammarNode& n = grammar_->node(node);
  if (n.kind == GrammarNode::Kind::literals) frame.candidates = n.literals.size() == 64 ? ~0ull : (1ull << n.literals.size()) - 1;
  return frame;
}

bool JsonMatcher::push(int node) {
  if (size_ == stack_.size()) return false;
  stack_[size_++] = start(node);
  return true;
}

bool JsonMatcher::feed(std::string_view bytes) {
  JsonMatcher before = *this;
  for (unsigned char c : bytes) {
    if (!feed(c)) {
      *this = before;
      return false;
    }
  }
  return true;
}

bool JsonMatcher::feed(unsigned char c) {
  const JsonMatcher before = *this;
  while (size_ > 0) {
    switch (consume(stack_[size_ - 1], c)) {
      case Step::taken: return true;
      case Step::taken_and_done: --size_; return true;
      case Step::pass_up: --size_; continue;  // the frame ended before `c`: its parent reads it
      case Step::push:
        if (!push(pending_child_)) break;
        continue;
      case Step::rejected: break;
    }
    break;
  }
  *this = before;
  return false;
}

bool JsonMatcher::can_end(const Frame& frame) const {
  const GrammarNode& n = grammar_->node(static_cast<int>(frame.node));
  switch (n.kind) {
    case GrammarNode::Kind::number:
    case GrammarNode::Kind::integer: return frame.phase == 2 || frame.phase == 3 || frame.phase == 5 || frame.phase == 8;
    case GrammarNode::Kind::literals:
      for (std::size_t i = 0; i < n.literals.size(); ++i) {
        if ((frame.candidates >> i & 1) && n.literals[i].size() == frame.pos) return true;
      }
      return false;
    default: return false;
  }
}

bool JsonMatcher::complete() const { return size_ == 0 || (size_ == 1 && can_end(stack_[0])); }

JsonMatcher::Step JsonMatcher::consume(Frame& frame, unsigned char c) {
  const GrammarNode& n = grammar_->node(static_cast<int>(frame.node));
  switch (n.kind) {
    case GrammarNode::Kind::sequence: return consume_sequence(frame, n, c);
    case GrammarNode::Kind::array: return consume_array(frame, n, c);
    case GrammarNode::Kind::free_object: return consume_free_object(frame, c);
    case GrammarNode::Kind::string: return consume_string(frame, n, c);
    case GrammarNode::Kind::number: return consume_number(frame, false, c);
    case GrammarNode::Kind::integer: return consume_number(frame, true, c);
    case GrammarNode::Kind::literals: return consume_literals(frame, n, c);
    case GrammarNode::Kind::choice: {
      const bool deep = size_ + 1 >= stack_.size();
      for (int alternative : n.alternatives) {
        const GrammarNode& option = grammar_->node(alternative);
        if (option.first.test(c) && !(deep && option.container)) {
          frame = start(alternative);  // the choice becomes what it chose
          return consume(frame, c);
        }
      }
      return Step::rejected;
    }
  }
  return Step::rejected;
}

JsonMatcher::Step JsonMatcher::consume_sequence(Frame& f, const GrammarNode& n, unsigned char c) {
  const GrammarNode::Part& part = n.parts[f.part];
  if (part.child >= 0 && f.part + 1 == n.parts.size()) {  // a child in tail position takes the frame over
    f = start(part.child);
    return consume(f, c);
  }
  if (part.child >= 0) {
    ++f.part;
    pending_child_ = part.child;
    return Step::push;
  }
  if (static_cast<unsigned char>(part.text[f.pos]) != c) return Step::rejected;
  if (++f.pos < part.text.size()) return Step::taken;
  f.pos = 0;
  return ++f.part == n.parts.size() ? Step::taken_and_done : Step::taken;
}

// Phases: 0 before '[', 1 after '[', 2 after a value, 3 after ','.
JsonMatcher::Step JsonMatcher::consume_array(Frame& f, const GrammarNode& n, unsigned char c) {
  auto value = [&] {
    ++f.count;
    f.phase = 2;
    pending_child_ = n.items;
    return Step::push;
  };
  switch (f.phase) {
    case 0: return c == '[' ? (f.phase = 1, Step::taken) : Step::rejected;
    case 1:
      if (c == ']') return n.min_items == 0 ? Step::taken_and_done : Step::rejected;
      return value();
    case 2:
      if (c == ',' && f.count < n.max_items) return f.phase = 3, Step::taken;
      if (c == ']' && f.count >= n.min_items) return Step::taken_and_done;
      return Step::rejected;
    default: return value();
  }
}

// Phases: 0 before '{', 1 after '{', 2 after a key, 3 after ':', 4 after a value, 5 after ','.
JsonMatcher::Step JsonMatcher::consume_free_object(Frame& f, unsigned char c) {
  auto key = [&] {
    if (c != '"') return Step::rejected;
    f.phase = 2;
    pending_child_ = grammar_->key_string();
    return Step::push;
  };
  switch (f.phase) {
    case 0: return c == '{' ? (f.phase = 1, Step::taken) : Step::rejected;
    case 1: return c == '}' ? Step::taken_and_done : key();
    case 2: return c == ':' ? (f.phase = 3, Step::taken) : Step::rejected;
    case 3:
      ++f.count;
      f.phase = 4;
      pending_child_ = grammar_->any_value();
      return Step::push;
    case 4:
      if (c == ',' && f.count < kDefaultMaxItems) return f.phase = 5, Step::taken;
      return c == '}' ? Step::taken_and_done : Step::rejected;
    default: return key();
  }
}

// Phases: 0 before the opening quote, 1 inside. Characters are counted as code points; escapes are not
// written (every character but '"', '\\' and controls is written as itself).
JsonMatcher::Step JsonMatcher::consume_string(Frame& f, const GrammarNode& n, unsigned char c) {
  if (f.phase == 0) return c == '"' ? (f.phase = 1, Step::taken) : Step::rejected;
  if (f.utf8_left > 0) {
    if ((c & 0xC0) != 0x80) return Step::rejected;
    if (--f.utf8_left == 0) ++f.count;
    return Step::taken;
  }
  if (c == '"') return f.count >= n.min_length ? Step::taken_and_done : Step::rejected;
  if (f.count >= n.max_length || c < 0x20 || c == '\\' || c == 0x7F) return Step::rejected;
  if (c < 0x80) {
    ++f.count;
    return Step::taken;
  }
  if (c >= 0xC2 && c <= 0xDF) f.utf8_left = 1;
  else if (c >= 0xE1 && c <= 0xEC) f.utf8_left = 2;  // E0, ED and F0-F4 need checks on the next byte: left out
  else return Step::rejected;
  return Step::taken;
}

// Phases: 0 start, 1 after '-', 2 after a leading 0, 3 in the integer part, 4 after '.', 5 in the
// fraction, 6 after 'e', 7 after the exponent's sign, 8 in the exponent. 2, 3, 5 and 8 may end.
JsonMatcher::Step JsonMatcher::consume_number(Frame& f, bool integer, unsigned char c) {
  const bool digit = c >= '0' && c <= '9';
  const bool may_end = can_end(f);
  const bool room = f.count < kMaxNumberLength;
  auto to = [&](std::uint8_t phase) {
    f.phase = phase;
    ++f.count;
    return Step::taken;
  };
  switch (f.phase) {
    case 0:
      if (c == '-') return to(1);
      [[fallthrough]];
    case 1:
      if (c == '0') return to(2);
      if (digit) return to(3);
      return Step::rejected;
    case 2:
    case 3:
      if (f.phase == 3 && digit && room) return to(3);
      if (!integer && c == '.' && room) return to(4);
      if (!integer && (c == 'e' || c == 'E') && room) return to(6);
      break;
    case 4: return digit ? to(5) : Step::rejected;
    case 5:
      if (digit && room) return to(5);
      if ((c == 'e' || c == 'E') && room) return to(6);
      break;
    case 6:
      if (c == '+' || c == '-') return to(7);
      [[fallthrough]];
    case 7: return digit ? (f.pos = 0, to(8)) : Step::rejected;
    case 8:
      if (digit && room && ++f.pos < 2) return to(8);  // two exponent digits at most: 1e99 still parses as a double
      break;
  }
  return may_end ? Step::pass_up : Step::rejected;
}

JsonMatcher::Step JsonMatcher::consume_literals(Frame& f, const GrammarNode& n, unsigned char c) {
  std::uint64_t still = 0;
  bool longer = false;  // a candidate goes on past this byte
  for (std::size_t i = 0; i < n.literals.size(); ++i) {
    const std::string& text = n.literals[i];
    if ((f.candidates >> i & 1) && f.pos < text.size() && static_cast<unsigned char>(text[f.pos]) == c) {
      still |= 1ull << i;
      longer = longer || text.size() > f.pos + 1;
    }
  }
  if (still == 0) return can_end(f) ? Step::pass_up : Step::rejected;
  f.candidates = still;
  ++f.pos;
  return longer ? Step::taken : Step::taken_and_done;
}

// ---- tokens ---------------------------------------------------------------------------------------

namespace {

// What a piece decodes to: its text with "▁" as spaces, or its byte; '' for pieces left out.
std::string piece_bytes(const SentencePieceTokenizer& tokenizer, std::int32_t id) {
  if (auto byte = tokenizer.byte_value(id)) return std::string(1, static_cast<char>(*byte));
  TokenType type = tokenizer.type(id);
  if (type == TokenType::control || type == TokenType::unknown) return {};
  std::string out;
  std::string_view piece = tokenizer.piece(id);
  for (std::size_t at = piece.find("\xE2\x96\x81"); at != std::string_view::npos; at = piece.find("\xE2\x96\x81")) {
    out.append(piece.substr(0, at)).push_back(' ');
    piece.remove_prefix(at + 3);
  }
  return out.append(piece);
}

}  // namespace

TokenTrie::TokenTrie(const SentencePieceTokenizer& tokenizer) : later_(1), first_(1) {
  later_bytes_.resize(static_cast<std::size_t>(tokenizer.vocab_size()));
  first_bytes_.resize(later_bytes_.size());
  for (std::int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    std::string bytes = piece_bytes(tokenizer, id);
    std::string first = bytes;
    const bool normal = !tokenizer.byte_value(id);
    if (normal && tokenizer.add_space_prefix() && first.starts_with(' ')) first.erase(0, 1);  // as StreamDecoder drops it
    insert(later_, bytes, id);
    insert(first_, first, id);
    later_bytes_[static_cast<std::size_t>(id)] = std::move(bytes);
    first_bytes_[static_cast<std::size_t>(id)] = std::move(first);
  }
}

void TokenTrie::insert(std::vector<Node>& trie, std::string_view bytes, std::int32_t token) {
  if (bytes.empty()) return;
  std::uint32_t node = 0;
  for (unsigned char c : bytes) {
    auto& children = trie[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), c, [](const auto& child, unsigned char b) { return child.first < b; });
    if (it == children.end() || it->first != c) {
      it = children.insert(it, {c, static_cast<std::uint32_t>(trie.size())});
      trie.emplace_back();
    }
    node = it->second;
  }
  trie[node].tokens.push_back(token);
}

JsonConstraint::JsonConstraint(std::shared_ptr<const JsonGrammar> grammar, std::shared_ptr<const TokenTrie> trie, const SentencePieceTokenizer& tokenizer)
    : grammar_(std::move(grammar)), trie_(std::move(trie)), tokenizer_(tokenizer), matcher_(*grammar_), allowed_(static_cast<std::size_t>(tokenizer.vocab_size())) {}

// Every piece under `node` whose bytes the grammar takes from `state`; each trie edge is tried once.
void JsonConstraint::allow_under(std::uint32_t node, const JsonMatcher& state, std::vector<bool>& allowed) const {
  const TokenTrie::Node& here = trie_->nodes(first_piece_)[node];
  for (std::int32_t token : here.tokens) allowed[static_cast<std::size_t>(token)] = true;
  for (const auto& [byte, child] : here.children) {
    JsonMatcher next = state;
    if (next.feed(byte)) allow_under(child, next, allowed);
  }
}

bool JsonConstraint::mask(std::span<float> logits) {
  if (matcher_.finished()) return false;
  std::fill(allowed_.begin(), allowed_.end(), false);
  allow_under(0, matcher_, allowed_);
  if (matcher_.complete()) allowed_[static_cast<std::size_t>(tokenizer_.eos_id())] = true;
  for (std::size_t id = 0; id < logits.size(); ++id) {
    if (!allowed_[id]) logits[id] = -std::numeric_limits<float>::infinity();
  }
  return true;
}

void JsonConstraint::accept(std::int32_t token) {
  matcher_.feed(trie_->bytes(token, first_piece_));
  first_piece_ = false;
}

}  // namespace mg::engine

namespace mg::engine {

bool PrefixedConstraint::mask(std::span<float> logits) {
  if (first_done_) return rest_->mask(logits);
  for (std::size_t id = 0; id < logits.size(); ++id) {
    if (static_cast<std::int32_t>(id) != first_token_) logits[id] = -std::numeric_limits<float>::infinity();
  }
  return true;
}

void PrefixedConstraint::accept(std::int32_t token) {
  if (first_done_) return rest_->accept(token);
  first_done_ = true;
}

}  // namespace mg::engine
